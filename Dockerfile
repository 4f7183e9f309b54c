# syntax=docker/dockerfile:1
# tfzoo CPU image.
#   docker build -t tfzoo .
#   docker run --rm -v tfzoo-runs:/work/runs tfzoo train --model mobilenet_v3
# Runs land in /work/runs (a VOLUME): the trainer's default run dir is
# runs/<model>-<dataset>, relative to the WORKDIR /work.
#
# The base image is a build argument, pinned by digest by default. This digest
# of python:3.11-slim (multi-arch index) was taken from a public `docker build`
# log that resolved it; no registry is reachable from where this file was
# written, so refresh and verify it before relying on it (scripts/pin_images.sh,
# or docker buildx imagetools inspect python:3.11-slim) and update it here and
# in docker/gpu.Dockerfile. Any Debian-like base with CPython 3.11 as `python`
# works: --build-arg BASE_IMAGE=... (scripts/container_smoke.sh builds on a
# debootstrap stand-in that way).
# Python dependencies come from docker/requirements-cpu.lock (every file
# hash-pinned; regenerate with scripts/lock_requirements.sh); TensorFlow is the
# tensorflow-cpu wheel of the same version (no CUDA kernels).
#
# Behind a TLS-intercepting proxy or a private index, pass the CA bundle and a
# pip configuration as build secrets: they are mounted for the lock install
# only and never reach a layer (both are optional):
#   docker build --secret id=ca-certificates.crt,src=/etc/ssl/certs/ca-certificates.crt \
#       --secret id=pip.conf,src=/etc/pip.conf -t tfzoo .

ARG BASE_IMAGE=python:3.11-slim@sha256:9358444059ed78e2975ada2c189f1c1a3144a5dab6f35bff8c981afb38946634
FROM ${BASE_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY docker/requirements-cpu.lock /tmp/requirements.lock
RUN --mount=type=secret,id=ca-certificates.crt,target=/etc/ssl/certs/ca-certificates.crt \
    --mount=type=secret,id=pip.conf,target=/etc/pip.conf \
    pip install --require-hashes --no-deps -r /tmp/requirements.lock
COPY setup.cfg pyproject.toml README.md /src/
COPY tfzoo /src/tfzoo
# --no-build-isolation builds with the locked setuptools/wheel, so nothing
# unhashed is downloaded; --no-deps because the lock already holds them all.
RUN pip install --no-deps --no-build-isolation /src
# TensorFlow's C++ headers (tf.sysconfig.get_include(), for compiling custom ops): about 290 MB
# that no tfzoo verb reads.
RUN rm -r "$(python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/tensorflow/include"

FROM ${BASE_IMAGE}
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
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
# The image runs one-shot CLI verbs; "healthy" means the package and its
# dependencies import (TensorFlow itself is checked by the first real verb).
HEALTHCHECK --interval=5m --timeout=30s --start-period=10s --retries=1 \
    CMD ["python", "-c", "import tfzoo.cli.main"]
ENTRYPOINT ["tfzoo"]
CMD ["--help"]
