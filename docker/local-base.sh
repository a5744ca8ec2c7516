#!/usr/bin/env bash
# Make the LOCAL test base image for the container build on a machine that cannot pull public images.
#   docker/local-base.sh [TAG]     (default pdacrad-local/base:bookworm-py311; no-op when the tag exists)
# Steps: debootstrap --variant=minbase bookworm → docker import (rootfs image) → docker/local-base.Dockerfile
# (python3.11 + venv, the machine's CA bundle for pip). Needs root, docker and debootstrap
# (apt-get install -y docker.io debootstrap). Use it with: ./build.sh --build-arg BASE_IMAGE=TAG
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
TAG="${1:-pdacrad-local/base:bookworm-py311}"
ROOTFS_IMAGE="pdacrad-local/debian-rootfs:bookworm"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

if docker image inspect "$TAG" >/dev/null 2>&1; then
    echo "local-base.sh: $TAG exists"
    exit 0
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/pdacrad-base.XXXXXX")"
trap 'rm -rf "$work"' EXIT

if ! docker image inspect "$ROOTFS_IMAGE" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || { echo "local-base.sh: needs debootstrap (apt-get install -y debootstrap)" >&2; exit 1; }
    echo "local-base.sh: debootstrap bookworm from $MIRROR (a few minutes)"
    debootstrap --variant=minbase bookworm "$work/rootfs" "$MIRROR" > "$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
    rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
    tar -C "$work/rootfs" -c . | docker import - "$ROOTFS_IMAGE"
fi
mkdir -p "$work/ctx"
cp local-base.Dockerfile "$work/ctx/Dockerfile"
cp "$CA_BUNDLE" "$work/ctx/host-ca-certificates.crt"
docker build --tag "$TAG" --build-arg ROOTFS_IMAGE="$ROOTFS_IMAGE" "$work/ctx"
echo "local-base.sh: built $TAG"
