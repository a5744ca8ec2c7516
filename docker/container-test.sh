#!/usr/bin/env bash
# The container check (`make container-test`): needs only Docker (and, where no public base image can be pulled,
# root + debootstrap for docker/local-base.sh). Steps, each must pass:
#   1. base image: $BASE_IMAGE if set; else the Dockerfile's public default when it can be pulled; else the local
#      Debian bookworm base (docker/local-base.sh)
#   2. ./build.sh; the image runs as non-root and holds no compiler and no Python headers
#   3. ./test.sh in Docker mode (--network none, read-only root fs + tmpfs /tmp, read-only /input, non-root,
#      --gpus all when a GPU is visible): exactly the two outputs, equal to tests/container/expected_output
#   4. one invalid input (a file that is no image): exit status 2 and nothing written
#   5. ./export.sh (docker save | gzip) and ./export.sh --model; the image is removed and `docker load`ed back
#   6. the loaded image runs the case again, with the model tarball extracted at /opt/ml/model (GC's way)
# Sizes and times go to $WORK/summary.txt (default WORK=output/container-test).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
IMAGE="${IMAGE:-pdacrad:latest}"
WORK="$(mkdir -p "${WORK:-output/container-test}" && realpath "${WORK:-output/container-test}")"
SUMMARY="$WORK/summary.txt"
DEFAULT_BASE="$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile)"
LOCAL_BASE="pdacrad-local/base:bookworm-py311"
export IMAGE NO_BUILD=1

say() { echo "container-test: $*" | tee -a "$SUMMARY"; }
fail() { echo "container-test: FAIL: $*" >&2; exit 1; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

: > "$SUMMARY"
docker info >/dev/null 2>&1 || fail "no Docker daemon reachable (start dockerd, or add yourself to the docker group)"

# 1. base image
if [[ -z "${BASE_IMAGE:-}" ]]; then
    if docker image inspect "$DEFAULT_BASE" >/dev/null 2>&1 || timeout 120 docker pull "$DEFAULT_BASE" >/dev/null 2>&1; then
        BASE_IMAGE="$DEFAULT_BASE"
    else
        echo "container-test: cannot pull $DEFAULT_BASE; making the local base $LOCAL_BASE"
        docker/local-base.sh "$LOCAL_BASE"
        BASE_IMAGE="$LOCAL_BASE"
    fi
fi
export BASE_IMAGE
say "base image $BASE_IMAGE"

# 2. build and inspect
t0=$(date +%s%N)
./build.sh
say "build $(ms_since "$t0") ms (cached layers reused)"
user="$(docker image inspect --format '{{.Config.User}}' "$IMAGE")"
[[ -n "$user" && "$user" != root && "$user" != 0 ]] || fail "the image runs as '${user:-root}', not a non-root user"
if docker run --rm --network none --entrypoint sh "$IMAGE" -c \
    'command -v gcc || command -v cc || command -v x86_64-linux-gnu-gcc || ls /usr/include/python3*/Python.h' 2>/dev/null; then
    fail "the image holds a compiler or Python headers"
fi
size_bytes="$(docker image inspect --format '{{.Size}}' "$IMAGE")"
say "image $IMAGE: user $user, no compiler, $((size_bytes / 1000000)) MB uncompressed"
docker run --rm --network none --entrypoint sh "$IMAGE" -c \
    'du -sm /opt/venv/lib/python3.11/site-packages/* | sort -rn | head -8' | sed 's/^/container-test:   /' | tee -a "$SUMMARY"

# 3. the GC-style run and comparison
./test.sh 2>&1 | tee "$WORK/test-run.log"
grep -h "^test.sh: cold start" "$WORK/test-run.log" | sed 's/^test.sh: /container-test: demo case: /' | tee -a "$SUMMARY"

# 4. invalid input: exit 2, nothing written
bad_in="$WORK/invalid-input" bad_out="$WORK/invalid-output"
rm -rf "$bad_in" "$bad_out" && mkdir -p "$bad_in/images/venous-ct" "$bad_out" && chmod 777 "$bad_out"
echo "not an image" > "$bad_in/images/venous-ct/broken.mha"
set +e
docker run --rm --network none --read-only --tmpfs /tmp \
    --volume "$bad_in":/input:ro --volume "$bad_out":/output "$IMAGE" 2> "$WORK/invalid-run.log"
status=$?
set -e
[[ $status == 2 ]] || { cat "$WORK/invalid-run.log" >&2; fail "invalid input gave exit status $status, not 2"; }
[[ -z "$(ls -A "$bad_out")" ]] || fail "invalid input wrote to the output folder: $(ls -A "$bad_out")"
say "invalid input: exit 2, nothing written ($(grep -m1 'invalid input' "$WORK/invalid-run.log"))"

# 5. export, remove, load
t0=$(date +%s%N)
./export.sh "$WORK/pdacrad.tar.gz"
say "export $(ms_since "$t0") ms; pdacrad.tar.gz $(($(stat -c %s "$WORK/pdacrad.tar.gz") / 1000000)) MB"
./export.sh --model "$WORK/pdacrad-model.tar.gz"
rm -rf "$WORK/model" && mkdir -p "$WORK/model" && tar -xzf "$WORK/pdacrad-model.tar.gz" -C "$WORK/model"
image_id="$(docker image inspect --format '{{.Id}}' "$IMAGE")"
docker rmi "$IMAGE" >/dev/null
t0=$(date +%s%N)
docker load --input "$WORK/pdacrad.tar.gz"
[[ "$(docker image inspect --format '{{.Id}}' "$IMAGE")" == "$image_id" ]] || fail "the loaded image differs"
say "docker load $(ms_since "$t0") ms: same image id"

# 6. the loaded image, model from /opt/ml/model
MODEL_DIR="$WORK/model" ./test.sh 2>&1 | tee "$WORK/loaded-run.log"
grep -q "uploaded model tarball" "$WORK/loaded-run.log" || fail "the run did not use /opt/ml/model/resources"
grep -h "^test.sh: cold start" "$WORK/loaded-run.log" \
    | sed 's/^test.sh: /container-test: loaded image, model at \/opt\/ml\/model: /' | tee -a "$SUMMARY"
say "PASS"
