#!/usr/bin/env bash
# Build the image and save it as a gzipped tarball for upload to Grand Challenge.
# Usage: ./export.sh [OUTPUT.tar.gz]   (default pdacrad.tar.gz; image tag $IMAGE, default pdacrad:latest)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
IMAGE="${IMAGE:-pdacrad:latest}"
TARBALL="${1:-pdacrad.tar.gz}"

IMAGE="$IMAGE" ./build.sh
docker save "$IMAGE" | gzip -c > "$TARBALL"
echo "exported $IMAGE to $TARBALL ($(du -h "$TARBALL" | cut -f1))"
