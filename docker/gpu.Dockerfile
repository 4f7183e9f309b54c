# syntax=docker/dockerfile:1
# tfzoo GPU image: TensorFlow 2.21 with CUDA 12.5.1 and cuDNN 9.3.0.
#   docker build -f docker/gpu.Dockerfile -t tfzoo:gpu .
#   docker run --rm --gpus all -v tfzoo-runs:/work/runs tfzoo:gpu train --model mobilenet_v3
# Needs an NVIDIA driver >= 555 on the host (CUDA 12.5) and the NVIDIA Container Toolkit.
#
# Where CUDA comes from: TensorFlow 2.21.0 is built against CUDA 12.5.1 and
# cuDNN 9 (tf.sysconfig.get_build_info()), and its `and-cuda` extra installs
# the NVIDIA runtime libraries as wheels (cuBLAS 12.5.3.2, cuDNN 9.3.0.75, ...,
# the versions its release CI tests). docker/requirements-gpu.in pins exactly
# those and the lock hash-pins them; TensorFlow loads them from site-packages
# and never looks at a system CUDA. So the image needs no CUDA in its base: an
# nvidia/cuda:12.5.1-cudnn-runtime base would only add ~3 GB of libraries TF
# does not load, and a second copy of CUDA that can disagree with the wheels.
# The driver (libcuda) is mounted at run time by the NVIDIA Container Toolkit,
# which the NVIDIA_* variables below configure exactly as nvidia/cuda's own
# images do (NVIDIA_REQUIRE_CUDA makes the toolkit refuse a driver too old
# for CUDA 12.5 with a clear message instead of a failure inside TensorFlow).
# nvidia/cuda:12.5.1-base-ubuntu22.04 would do too (Python 3.10: re-lock for
# it), but no digest of it could be verified where this file was written.
# Base: the same digest-pinned python:3.11-slim build argument as ./Dockerfile,
# and the same optional build secrets (where the digest came from, how to
# refresh it and how to build behind a proxy is explained there).

ARG BASE_IMAGE=python:3.11-slim@sha256:9358444059ed78e2975ada2c189f1c1a3144a5dab6f35bff8c981afb38946634
FROM ${BASE_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY docker/requirements-gpu.lock /tmp/requirements.lock
RUN --mount=type=secret,id=ca-certificates.crt,target=/etc/ssl/certs/ca-certificates.crt \
    --mount=type=secret,id=pip.conf,target=/etc/pip.conf \
    pip install --require-hashes --no-deps -r /tmp/requirements.lock
COPY setup.cfg pyproject.toml README.md /src/
COPY tfzoo /src/tfzoo
RUN pip install --no-deps --no-build-isolation /src
# TensorFlow's C++ headers (tf.sysconfig.get_include(), for compiling custom ops): about 290 MB
# that no tfzoo verb reads.
RUN rm -r "$(python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/tensorflow/include"

FROM ${BASE_IMAGE}
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    NVIDIA_REQUIRE_CUDA="cuda>=12.5" \
    PATH=/opt/venv/bin:$PATH
COPY --from=builder /opt/venv /opt/venv
# Training recipes are package data (tfzoo/recipes/*.flags): `tfzoo train --recipe NAME` needs no source tree.
# Listing them here fails the build if the wheel lost them (no TensorFlow import, well under a second).
RUN tfzoo recipes \
    && useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin tfzoo \
    && mkdir -p /work/runs \
    && chown -R 10001:10001 /work
USER 10001:10001
WORKDIR /work
VOLUME ["/work/runs"]
HEALTHCHECK --interval=5m --timeout=30s --start-period=10s --retries=1 \
    CMD ["python", "-c", "import tfzoo.cli.main"]
ENTRYPOINT ["tfzoo"]
CMD ["--help"]
