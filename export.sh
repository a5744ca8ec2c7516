#!/usr/bin/env bash
# Export for upload to Grand Challenge.
#   ./export.sh [OUT.tar.gz]           build the image (./build.sh) and save it: docker save | gzip (default pdacrad.tar.gz)
#   ./export.sh --model [OUT.tar.gz]   only the model, resources/ as a tarball (default pdacrad-model.tar.gz); GC
#                                      extracts it to /opt/ml/model/, and the container then uses
#                                      /opt/ml/model/resources/ instead of the resources/ baked into the image
# Environment: IMAGE (pdacrad:latest), NO_BUILD=1 (save the existing image), BASE_IMAGE (passed to ./build.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
IMAGE="${IMAGE:-pdacrad:latest}"

if [[ "${1:-}" == "--model" ]]; then
    TARBALL="${2:-pdacrad-model.tar.gz}"
    if [[ ! -f resources/manifest.json ]]; then
        echo "export.sh: resources/manifest.json is missing; nothing to export" >&2
        exit 1
    fi
    # one top-level folder, resources/, as the container looks for; stable order and ownership
    tar --create --gzip --file "$TARBALL" --sort=name --owner=0 --group=0 --numeric-owner \
        --exclude='__pycache__' resources
    echo "exported the model (resources/) to $TARBALL ($(du -h "$TARBALL" | cut -f1))"
    exit 0
elif [[ "${1:-}" == -* ]]; then
    echo "usage: $0 [OUT.tar.gz] | --model [OUT.tar.gz]" >&2
    exit 2
fi
TARBALL="${1:-pdacrad.tar.gz}"
[[ "${NO_BUILD:-0}" == 1 ]] || IMAGE="$IMAGE" ./build.sh
docker save "$IMAGE" | gzip -c > "$TARBALL"
echo "exported $IMAGE to $TARBALL ($(du -h "$TARBALL" | cut -f1))"
