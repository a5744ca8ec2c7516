#!/usr/bin/env bash
# Build the algorithm container image. Usage: ./build.sh [extra docker build args]
# Image tag: $IMAGE (default pdacrad:latest).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
IMAGE="${IMAGE:-pdacrad:latest}"

if [[ ! -f resources/manifest.json ]]; then
    echo "build.sh: resources/manifest.json is missing; produce resources/ with 'pdacrad-train export' first" >&2
    exit 1
fi
docker build --tag "$IMAGE" "$@" .
echo "built image $IMAGE"
