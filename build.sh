#!/usr/bin/env bash
# Build the algorithm container image. Usage: ./build.sh [extra docker build args]
#   e.g. ./build.sh --build-arg BASE_IMAGE=pdacrad-local/base:bookworm-py311   (docker/local-base.sh makes it)
# Image tag: $IMAGE (default pdacrad:latest); base: $BASE_IMAGE when set (the Dockerfile's default otherwise).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
IMAGE="${IMAGE:-pdacrad:latest}"

if [[ ! -f resources/manifest.json ]]; then
    echo "build.sh: resources/manifest.json is missing; produce resources/ with 'pdacrad-train export' first" >&2
    exit 1
fi
BASE_ARGS=()
if [[ -n "${BASE_IMAGE:-}" ]]; then
    BASE_ARGS=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
fi
docker build --tag "$IMAGE" "${BASE_ARGS[@]}" "$@" .
echo "built image $IMAGE"
