#!/usr/bin/env bash
# Container smoke test: builds the tfzoo image with podman and runs it for real.
#
#   scripts/container_smoke.sh          the CPU image (./Dockerfile); .ci/run calls this
#   scripts/container_smoke.sh --gpu    the GPU image (docker/gpu.Dockerfile), built and inspected once:
#                                       TensorFlow's CUDA/cuDNN build info and the installed NVIDIA wheels
#
# Needs root and apt (Debian/Ubuntu): podman, runc and debootstrap are installed with apt-get when missing.
# No container registry is needed: the base image is a stand-in for python:3.11-slim made with debootstrap
# (Debian bookworm, CPython 3.11) and passed as --build-arg BASE_IMAGE; it is kept between runs. pip reaches
# the package index through this machine's CA bundle and pip configuration, given to the build as build secrets
# (mounted read-only for the lock install only); the test then checks that neither is in the image.
# Every container runs with --network none, a named volume on /work/runs and the image's own user.
#
# podman runs with runc and cgroupfs and without default ulimits (containers.conf written below), in a
# storage root of its own, so that the cleanup (containers, volume, images; the stand-in base stays) touches
# nothing else on the machine. Quiet on success: one line per step with its time; on failure the step's log.
#
# Environment (all optional):
#   TFZOO_SMOKE_STORE      storage root and base cache   (default /var/tmp/tfzoo-container-smoke)
#   TFZOO_SMOKE_CA_BUNDLE  CA bundle for pip in the build (default $PIP_CERT, $REQUESTS_CA_BUNDLE,
#                          $SSL_CERT_FILE or /etc/ssl/certs/ca-certificates.crt, the first that exists)
#   TFZOO_SMOKE_PIP_CONF   pip configuration for the build (default /etc/pip.conf when present); its `cert`,
#                          if any, must name /etc/ssl/certs/ca-certificates.crt, where the bundle is mounted
#   TFZOO_SMOKE_MIRROR     Debian mirror for debootstrap  (default http://deb.debian.org/debian)
set -euo pipefail
cd "$(dirname "$0")/.."

gpu=0
case "${1:-}" in
  "") ;;
  --gpu) gpu=1 ;;
  *) echo "usage: scripts/container_smoke.sh [--gpu]" >&2; exit 2 ;;
esac

base_image=localhost/tfzoo-standin-base:bookworm-py311
if [[ $gpu == 1 ]]; then
  dockerfile=docker/gpu.Dockerfile lock=docker/requirements-gpu.lock image=localhost/tfzoo-smoke:gpu min_free_gb=30
else
  dockerfile=Dockerfile lock=docker/requirements-cpu.lock image=localhost/tfzoo-smoke:cpu min_free_gb=12
fi
store=${TFZOO_SMOKE_STORE:-/var/tmp/tfzoo-container-smoke}
tag=tfzoo-smoke-$$
volume=$tag-runs
run_name=mobilenet_v3_small_050-digits  # runs/$run_name in the container, $runs_host/$run_name here
t_start=$(date +%s.%N)

work=$(mktemp -d)
log=$work/step.log

say() { printf '[container smoke] %s\n' "$*"; }
fail() {
  say "FAILED: $*" >&2
  if [[ -s $log ]]; then
    say "last lines of the step's output:" >&2
    tail -n 40 "$log" | sed 's/^/    /' >&2
  fi
  exit 1
}
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# step NAME COMMAND...: runs COMMAND with its output in $log, prints NAME and its time, fails loudly.
step() {
  local name=$1 t0
  shift
  t0=$(date +%s.%N)
  # A subshell with errexit of its own: a function run as an `if` condition would ignore set -e.
  set +e
  (set -e; "$@") > "$log" 2>&1
  local rc=$?
  set -e
  [[ $rc == 0 ]] || fail "$name"
  say "$(printf '%-44s %7ss' "$name" "$(elapsed "$t0")")"
}

cleanup() {
  local rc=$?
  set +e
  if [[ ${own_store:-0} == 1 ]]; then  # podman is pointed at this script's storage root
    podman rm -f -v -t 0 "$tag-train" "$tag-health" > /dev/null 2>&1
    podman volume rm -f "$volume" > /dev/null 2>&1
    podman volume prune -f > /dev/null 2>&1  # anonymous volumes (the image's VOLUME) of this run's containers
    # Everything in this storage root except the stand-in base is this run's (the final image and the
    # builder stage's layers): the root is private to this script and locked while it runs.
    # TFZOO_SMOKE_KEEP=1 (debugging) keeps them, and with them the build's layer cache.
    [[ ${TFZOO_SMOKE_KEEP:-0} == 1 ]] || podman images -a --format '{{.ID}} {{.Repository}}:{{.Tag}}' 2> /dev/null \
      | awk -v keep="$base_image" '$2 != keep { print $1 }' | sort -u \
      | xargs -r podman rmi -f > /dev/null 2>&1
  fi
  rm -rf "$work"
  if [[ $rc == 0 ]]; then
    say "passed in $(elapsed "$t_start") s"
  else
    say "FAILED after $(elapsed "$t_start") s (exit $rc)" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- podman, configured for this machine ----------------------------------------------------------------
[[ $(id -u) == 0 ]] || fail "needs root (apt-get, rootful podman with runc and cgroupfs)"

install_tools() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq podman runc debootstrap
}
missing=()
for tool in podman runc debootstrap; do command -v "$tool" > /dev/null 2>&1 || missing+=("$tool"); done
if (( ${#missing[@]} )); then
  step "apt-get install ${missing[*]}" install_tools
fi

mkdir -p "$store"
exec 9> "$store/lock"
flock -n 9 || fail "another container smoke test holds $store/lock"
# runc, not crun (crun refuses this machine's cgroup v1/v2 hybrid); cgroupfs (no systemd); no default
# ulimits (podman's default nofile/nproc exceed this machine's hard limits); a storage root of our own.
cat > "$work/containers.conf" << 'EOF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
cat > "$work/storage.conf" << EOF
[storage]
driver = "overlay"
graphroot = "$store/storage"
runroot = "/run/tfzoo-container-smoke"
EOF
export CONTAINERS_CONF=$work/containers.conf CONTAINERS_STORAGE_CONF=$work/storage.conf
own_store=1
podman info > "$log" 2>&1 || fail "podman does not start on this machine (podman info)"

free_gb=$(df -P -BG "$store" | awk 'NR == 2 { sub("G", "", $4); print $4 }')
(( free_gb >= min_free_gb )) || fail "$store has ${free_gb} GB free; building $image needs about ${min_free_gb} GB"

# ---- the stand-in base image (kept between runs) --------------------------------------------------------
make_base() {
  local rootfs=$store/rootfs
  rm -rf "$rootfs"
  # python3-distutils provides python3.11-distutils (a virtual package python3.11-venv depends on, which
  # debootstrap does not resolve by itself).
  debootstrap --variant=minbase --include=python3.11,python3.11-venv,python3-distutils,ca-certificates \
    bookworm "$rootfs" "${TFZOO_SMOKE_MIRROR:-http://deb.debian.org/debian}"
  rm -rf "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  ln -sf /usr/bin/python3.11 "$rootfs/usr/local/bin/python"  # python:3.11-slim has `python` on PATH
  tar -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$base_image"
  rm -rf "$rootfs"
}
if podman image exists "$base_image"; then
  say "$(printf '%-44s %8s' "stand-in base $base_image" cached)"
else
  step "stand-in base (debootstrap bookworm)" make_base
fi

# ---- build ------------------------------------------------------------------------------------------------
ca_bundle=${TFZOO_SMOKE_CA_BUNDLE:-}
if [[ -z $ca_bundle ]]; then
  for candidate in "${PIP_CERT:-}" "${REQUESTS_CA_BUNDLE:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
    if [[ -n $candidate && -f $candidate ]]; then ca_bundle=$candidate; break; fi
  done
fi
secrets=()
[[ -n $ca_bundle ]] && secrets+=(--secret "id=ca-certificates.crt,src=$ca_bundle")
pip_conf=${TFZOO_SMOKE_PIP_CONF:-/etc/pip.conf}
[[ -f $pip_conf ]] && secrets+=(--secret "id=pip.conf,src=$pip_conf")

# --format docker: the OCI image format has no HEALTHCHECK. --network host for the build only.
step "build $image" podman build --format docker --network host "${secrets[@]}" \
  --build-arg "BASE_IMAGE=$base_image" -f "$dockerfile" -t "$image" .
size_bytes=$(podman image inspect --format '{{.Size}}' "$image")
base_bytes=$(podman image inspect --format '{{.Size}}' "$base_image")
say "image size: $(awk -v s="$size_bytes" -v b="$base_bytes" \
  'BEGIN { printf "%.2f GB (%.2f GB over the %.0f MB stand-in base)", s / 1e9, (s - b) / 1e9, b / 1e6 }')"

# ---- checks on the image ----------------------------------------------------------------------------------
# --no-healthcheck: without systemd, podman cannot schedule the HEALTHCHECK and says so on stderr; the
# check itself is run by hand below.
run() { podman run --rm --network none --no-healthcheck "$@"; }
in_image() { run --entrypoint "$1" "$2" "${@:3}"; }  # in_image PROGRAM IMAGE ARGS...

check_no_build_secrets() {
  local base_ca image_ca
  base_ca=$(in_image sha256sum "$base_image" /etc/ssl/certs/ca-certificates.crt)
  image_ca=$(in_image sha256sum "$image" /etc/ssl/certs/ca-certificates.crt)
  echo "base: $base_ca"; echo "image: $image_ca"
  [[ $base_ca == "$image_ca" ]] || { echo "the image's CA bundle is not the base image's"; return 1; }
  if in_image ls "$image" -d /etc/pip.conf /etc/xdg/pip /root/.pip /root/.config/pip 2> /dev/null; then
    echo "a pip configuration is left in the image"; return 1
  fi
  if podman image inspect --format '{{json .Config.Env}}' "$image" | grep -E 'PIP_(CERT|CONFIG_FILE|INDEX)'; then
    echo "the image's environment names a pip certificate or index"; return 1
  fi
}
step "no CA bundle or pip.conf of the build left" check_no_build_secrets

check_user() {
  local uid
  uid=$(in_image id "$image" -u)
  echo "id -u: $uid"
  [[ $uid == 10001 ]]
}
step "runs as uid 10001" check_user

check_pip() {  # the installed environment satisfies every requirement (see scripts/pip_check_lock.sh)
  scripts/pip_check_lock.sh podman run --rm --network none --no-healthcheck --entrypoint pip "$image" check
}
step "pip check in the image" check_pip

check_bad_flag() {
  local rc=0
  run "$image" train --no_such_flag > "$work/out" 2> "$work/err" || rc=$?
  cat "$work/out" "$work/err"
  [[ $rc == 2 ]] || { echo "exit $rc, expected 2"; return 1; }
  [[ $(wc -l < "$work/err") == 1 && ! -s $work/out ]] || { echo "expected exactly one line on stderr"; return 1; }
}
step "bad flag: one line, exit 2" check_bad_flag

if [[ $gpu == 1 ]]; then
  check_gpu_build() {  # the lock arrives on stdin
    podman run --rm -i --network none --no-healthcheck --entrypoint python "$image" -c '
import importlib.metadata as md, json, re, sys
import tensorflow as tf
info = tf.sysconfig.get_build_info()
print(json.dumps({k: str(v) for k, v in info.items()}, indent=1, sort_keys=True))
lock = dict(re.findall(r"^(nvidia-[a-z0-9-]+)==(\S+)", sys.stdin.read(), re.M))
bad = 0
for name, version in sorted(lock.items()):
    have = md.version(name)
    print(f"{name:28s} lock {version:12s} installed {have}")
    bad += have != version
ok = info["is_cuda_build"] and info["cuda_version"].startswith("12.5") and info["cudnn_version"].startswith("9")
sys.exit(1 if bad or not ok or not lock else 0)' < "$lock"
  }
  step "GPU build info and NVIDIA wheels" check_gpu_build
  sed 's/^/    /' "$log"
  exit 0
fi

# ---- the CLI in fresh containers, runs in a named volume -----------------------------------------------------
podman volume create "$volume" > /dev/null
runs_host=$(podman volume inspect --format '{{.Mountpoint}}' "$volume")
with_runs() { run -v "$volume:/work/runs" "$@"; }

check_list() {
  run "$image" list > "$work/out"
  head -n 3 "$work/out"
  grep -q "^mobilenet_v3_small_050\b" "$work/out"
}
step "list" check_list

# Small and quick, on the embedded digits; enough epochs that the kill lands mid-run.
epochs=4
train=(train --model mobilenet_v3_small_050 --image_size 32 --batch_size 32 --epochs "$epochs" --steps_per_epoch 6)

train_then_kill() {
  local deadline=$((SECONDS + 600))
  podman run -d --name "$tag-train" --network none --no-healthcheck -v "$volume:/work/runs" "$image" "${train[@]}"
  until [[ -f $runs_host/$run_name/checkpoints/epoch-0001.weights.h5 ]]; do
    if [[ $(podman inspect --format '{{.State.Running}}' "$tag-train") != true ]]; then
      podman logs "$tag-train"; echo "train stopped before its first checkpoint"; return 1
    fi
    (( SECONDS < deadline )) || { echo "no checkpoint after 600 s"; return 1; }
    sleep 0.5
  done
  # The training process (PID 1, the entrypoint) runs as 10001 too, not just `id` in a fresh container.
  podman exec "$tag-train" grep '^Uid:' /proc/1/status | tee "$work/uid"
  podman kill "$tag-train"
  podman logs "$tag-train"
  podman rm -f -v "$tag-train"
  awk '{ exit !($2 == 10001) }' "$work/uid" || { echo "train runs as uid $(cat "$work/uid")"; return 1; }
  [[ ! -f $runs_host/$run_name/metrics.json ]] || { echo "train finished before the kill: raise --epochs"; return 1; }
  ls "$runs_host/$run_name/checkpoints"
}
step "train, killed after its first checkpoint" train_then_kill
say "    killed with $(cd "$runs_host/$run_name/checkpoints" && echo *) in the volume"

train_resume() {
  with_runs "$image" "${train[@]}" | tee "$work/out"
  grep -E "^Resuming .* from epoch [1-9][0-9]* of $epochs" "$work/out" || { echo "the rerun did not resume"; return 1; }
  python3 -c 'import json, sys; m = json.load(open(sys.argv[1])); print(m); assert m["epochs_run"] == int(sys.argv[2]), m' \
    "$runs_host/$run_name/metrics.json" "$epochs"
}
step "same train again: resumes, writes metrics.json" train_resume
say "    $(grep -m 1 '^Resuming' "$log")"

check_health() {
  local cmd
  cmd=$(podman image inspect --format '{{json .Config.Healthcheck.Test}}' "$image")
  echo "HEALTHCHECK $cmd"
  [[ $cmd == *python* ]] || { echo "the image has no HEALTHCHECK"; return 1; }
  podman run -d --name "$tag-health" --network none --entrypoint sleep "$image" 300
  podman healthcheck run "$tag-health"
  [[ $(podman inspect --format '{{.State.Health.Status}}' "$tag-health") == healthy ]]
}
step "HEALTHCHECK passes" check_health
podman rm -f -v -t 0 "$tag-health" > /dev/null 2>&1

step "eval" with_runs "$image" eval --run_dir "runs/$run_name"
check_export() {
  with_runs "$image" export --run_dir "runs/$run_name" --output runs/export/digits
  test -f "$runs_host/export/digits/1/saved_model.pb"
}
step "export" check_export

make_png() {  # a 32x32 RGB PNG of a "1", written with the standard library only
  python3 - "$1" << 'EOF'
import struct, sys, zlib
rows = [bytes([0]) + b"".join(bytes([255 if 14 <= x <= 17 and 4 <= y <= 27 else 0] * 3) for x in range(32))
        for y in range(32)]
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
with open(sys.argv[1], "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 32, 32, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))
EOF
  chmod 644 "$1"
}
make_png "$work/digit.png"
check_predict() {
  with_runs -v "$work/digit.png:/work/input/digit.png:ro" "$image" \
    predict --source runs/export/digits --top_k 3 input/digit.png | tee "$work/out"
  grep -q 'digit.png' "$work/out"
}
step "predict on a bind-mounted PNG" check_predict
