#!/usr/bin/env bash
# PANORAMA-style container test: run the algorithm on tests/container/input and compare with
# tests/container/expected_output (map: at most 10 voxels differ by > 1e-3; likelihood within 1e-3).
#
#   ./test.sh           build the image and run it with --network none, read-only /input, default /dev/shm,
#                       non-root, --gpus all when an NVIDIA GPU is visible
#   ./test.sh --local   the same without Docker: .venv/bin/python process.py
#
# Overrides (environment): IMAGE (pdacrad:latest), INPUT, EXPECTED, PYTHON (.venv/bin/python), and for --local
# RESOURCES (resources) and DEVICE (cpu: the expected outputs were produced on CPU).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
IMAGE="${IMAGE:-pdacrad:latest}"
INPUT="$(realpath "${INPUT:-tests/container/input}")"
EXPECTED="$(realpath "${EXPECTED:-tests/container/expected_output}")"
PYTHON="${PYTHON:-.venv/bin/python}"

OUTPUT="$(mktemp -d "${TMPDIR:-/tmp}/pdacrad-test-output.XXXXXX")"
trap 'rm -rf "$OUTPUT"' EXIT

if [[ "${1:-}" == "--local" ]]; then
    "$PYTHON" process.py --input "$INPUT" --output "$OUTPUT" \
        --resources "${RESOURCES:-resources}" --device "${DEVICE:-cpu}"
    "$PYTHON" -m pdacrad.inference.compare "$OUTPUT" "$EXPECTED"
elif [[ $# -gt 0 ]]; then
    echo "usage: $0 [--local]" >&2
    exit 2
else
    ./build.sh
    GPU_ARGS=()
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        GPU_ARGS=(--gpus all)
    fi
    chmod 777 "$OUTPUT"  # the container's non-root user writes here
    docker run --rm --network none "${GPU_ARGS[@]}" \
        --volume "$INPUT":/input:ro --volume "$OUTPUT":/output \
        "$IMAGE"
    # compare inside the image too, so the host needs nothing but Docker
    docker run --rm --network none --entrypoint python \
        --volume "$OUTPUT":/actual:ro --volume "$EXPECTED":/expected:ro \
        "$IMAGE" -m pdacrad.inference.compare /actual /expected
fi
echo "test.sh: outputs match $EXPECTED"
