#!/usr/bin/env bash
# Re-pins every base/service image to the digest its tag points to today:
#   Dockerfile, docker/gpu.Dockerfile   FROM python:3.11-slim@sha256:...
#   docker/serving/compose.yaml         image: tensorflow/serving:2.19.1[@sha256:...]
# Each reference keeps its tag (for people) and gets the multi-arch index
# digest (what docker actually pulls). Needs docker buildx and access to
# Docker Hub; review and commit the diff, then rebuild.
#
# Usage: scripts/pin_images.sh [--check]   (--check: exit 1 if any digest is stale or missing)
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=(Dockerfile docker/gpu.Dockerfile docker/serving/compose.yaml)
check=0
[[ "${1:-}" == "--check" ]] && check=1
stale=0
for ref in $(grep -hoE '(python|tensorflow/serving|nvidia/cuda):[A-Za-z0-9._-]+(@sha256:[0-9a-f]{64})?' "${FILES[@]}" | sort -u); do
  name_tag=${ref%@*}
  digest=$(docker buildx imagetools inspect "$name_tag" --format '{{json .Manifest.Digest}}' | tr -d '"')
  if [[ "$ref" != "$name_tag@$digest" ]]; then
    stale=1
    echo "$ref -> $name_tag@$digest"
    if [[ $check == 0 ]]; then
      sed -i.bak -E "s#${ref//./\\.}([^@0-9A-Za-z._-]|\$)#$name_tag@$digest\\1#g" "${FILES[@]}"
      for f in "${FILES[@]}"; do rm -f "$f.bak"; done
    fi
  fi
done
if [[ $check == 1 && $stale == 1 ]]; then exit 1; fi
echo "image pins up to date"
