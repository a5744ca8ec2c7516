#!/usr/bin/env bash
# PANORAMA-style container test: run the algorithm on tests/container/input, check that the run wrote exactly the
# two outputs, and compare them with tests/container/expected_output (map: at most 10 voxels differ by > 1e-3;
# likelihood within 1e-3) using tests/container/compare.py.
#
#   ./test.sh           build the image (./build.sh) and run it as Grand Challenge does: --network none, read-only
#                       root file system with a tmpfs /tmp, read-only /input, the image's non-root user,
#                       Docker's default /dev/shm, --gpus all when an NVIDIA GPU is visible
#   ./test.sh --local   the same without Docker: $PYTHON process.py
#
# Overrides (environment): IMAGE (pdacrad:latest), NO_BUILD=1 (use the existing image), MODEL_DIR (mounted
# read-only at /opt/ml/model, as Grand Challenge extracts a model tarball: see ./export.sh --model), INPUT, EXPECTED,
# PYTHON (.venv/bin/python), and for --local RESOURCES (resources) and DEVICE (cpu: the expected outputs were
# produced on CPU).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
IMAGE="${IMAGE:-pdacrad:latest}"
INPUT="$(realpath "${INPUT:-tests/container/input}")"
EXPECTED="$(realpath "${EXPECTED:-tests/container/expected_output}")"
PYTHON="${PYTHON:-.venv/bin/python}"
COMPARE="$(realpath tests/container/compare.py)"
MAP_REL="images/pdac-detection-map/detection_map.mha"
LIKELIHOOD_REL="pdac-likelihood.json"

OUTPUT="$(mktemp -d "${TMPDIR:-/tmp}/pdacrad-test-output.XXXXXX")"
trap 'rm -rf "$OUTPUT"' EXIT

only_the_two_outputs() {  # the run must write the detection map and the likelihood, and nothing else
    local found
    found="$(cd "$OUTPUT" && find . -mindepth 1 -not -type d | sort | tr '\n' ' ')"
    if [[ "$found" != "./$MAP_REL ./$LIKELIHOOD_REL " ]]; then
        echo "test.sh: FAIL: the output folder holds [${found}], expected exactly $MAP_REL and $LIKELIHOOD_REL" >&2
        exit 1
    fi
}

if [[ "${1:-}" == "--local" ]]; then
    "$PYTHON" process.py --input "$INPUT" --output "$OUTPUT" \
        --resources "${RESOURCES:-resources}" --device "${DEVICE:-cpu}"
    only_the_two_outputs
    "$PYTHON" "$COMPARE" "$OUTPUT" "$EXPECTED"
elif [[ $# -gt 0 ]]; then
    echo "usage: $0 [--local]" >&2
    exit 2
else
    [[ "${NO_BUILD:-0}" == 1 ]] || ./build.sh
    GPU_ARGS=()
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        GPU_ARGS=(--gpus all)
    fi
    chmod 777 "$OUTPUT"  # the container's non-root user writes here
    MODEL_ARGS=()
    if [[ -n "${MODEL_DIR:-}" ]]; then  # a model tarball's extraction, mounted where Grand Challenge puts it
        MODEL_ARGS=(--volume "$(realpath "$MODEL_DIR")":/opt/ml/model:ro)
    fi
    start_ns=$(date +%s%N)
    first_line_ms=""
    # the container's log, passed through; the time of its first line is the cold start (docker run → Python up)
    status=""
    while IFS= read -r line; do
        if [[ "$line" == "__exit__ "* ]]; then status="${line#__exit__ }"; continue; fi
        [[ -n "$first_line_ms" ]] || first_line_ms=$((($(date +%s%N) - start_ns) / 1000000))
        printf '%s\n' "$line"
    done < <(docker run --rm --network none --read-only --tmpfs /tmp "${GPU_ARGS[@]}" "${MODEL_ARGS[@]}" \
        --volume "$INPUT":/input:ro --volume "$OUTPUT":/output "$IMAGE" 2>&1; echo "__exit__ $?")
    if [[ "$status" != 0 ]]; then
        echo "test.sh: FAIL: the container exited with status ${status:-unknown}" >&2
        exit 1
    fi
    echo "test.sh: cold start (docker run to first log line) ${first_line_ms} ms;" \
        "container run $((($(date +%s%N) - start_ns) / 1000000)) ms"
    only_the_two_outputs
    # compare with the image's own Python, so the host needs nothing but Docker; compare.py is mounted, not baked in
    docker run --rm --network none --read-only --entrypoint python \
        --volume "$COMPARE":/check/compare.py:ro \
        --volume "$OUTPUT":/actual:ro --volume "$EXPECTED":/expected:ro \
        "$IMAGE" /check/compare.py /actual /expected
fi
echo "test.sh: outputs match $EXPECTED"
