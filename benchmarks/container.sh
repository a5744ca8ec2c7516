#!/usr/bin/env bash
# Per-case wall time in the container vs the same code on the host, side by side in one run, for the bundled demo
# case and a 512×512×100 synthetic CT. Each side runs the case twice in one process (benchmarks/repeat_case.py):
# run 1 pays the one-off costs (numba JIT of the radiomics kernels, torch/nnU-Net warm-up), run 2 does not, so
# run 1 − run 2 is the JIT + warm-up a single-case container pays. The container runs as make container-test does
# (--network none, read-only root fs + tmpfs /tmp, non-root), with repeat_case.py mounted read-only.
# The 512×512×100 case runs once per side by default (BIG_REPEAT=2 to separate its JIT too; the JIT cost does not
# depend on the image size: the kernels compile once per type signature).
#   benchmarks/container.sh   (IMAGE=pdacrad:latest, PYTHON=.venv/bin/python, DEVICE=cpu, CASES="demo 512x512x100")
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
IMAGE="${IMAGE:-pdacrad:latest}"
PYTHON="${PYTHON:-.venv/bin/python}"
DEVICE="${DEVICE:-cpu}"
WORK="$(mkdir -p "${WORK:-output/container-bench}" && realpath "${WORK:-output/container-bench}")"
BENCH="$(realpath benchmarks/repeat_case.py)"
rm -rf "$WORK"/out-* && mkdir -p "$WORK"

big="$WORK/input-512x512x100"
[[ -d "$big" ]] || "$PYTHON" "$BENCH" --input "$big" --output "$WORK/unused" --repeat 0 --synth-size 512 512 100

container() {  # $1 input dir, $2 output dir, $3 repeats
    mkdir -p "$2" && chmod 777 "$2"
    docker run --rm --network none --read-only --tmpfs /tmp --entrypoint python \
        --volume "$BENCH":/bench/repeat_case.py:ro --volume "$1":/input:ro --volume "$2":/output "$IMAGE" \
        /bench/repeat_case.py --input /input --output /output --resources resources --device "$DEVICE" --repeat "$3" \
        2>/dev/null
}
host() {
    "$PYTHON" "$BENCH" --input "$1" --output "$2" --resources resources --device "$DEVICE" --repeat "$3" 2>/dev/null
}
declare -A T
for case in ${CASES:-demo 512x512x100}; do
    input="$(realpath tests/container/input)" repeat=2
    [[ "$case" == demo ]] || input="$big" repeat="${BIG_REPEAT:-1}"
    for side in container host; do
        out="$($side "$input" "$WORK/out-$side-$case" "$repeat")"
        T[$side,$case,1]="$(sed -n 's/^run 1: \(.*\) s$/\1/p' <<<"$out")"
        T[$side,$case,2]="$(sed -n 's/^run 2: \(.*\) s$/\1/p' <<<"$out")"
        echo "$case $side: run 1 ${T[$side,$case,1]} s, run 2 ${T[$side,$case,2]:--} s"
    done
done
echo
echo "| case | container run 1 (with JIT + warm-up) | container run 2 | host run 1 | host run 2 | container/host (last run) |"
echo "|---|---|---|---|---|---|"
for case in ${CASES:-demo 512x512x100}; do
    last=2
    [[ -n "${T[container,$case,2]}" ]] || last=1
    ratio="$(awk -v a="${T[container,$case,$last]}" -v b="${T[host,$case,$last]}" 'BEGIN { printf "%.2f", a / b }')"
    echo "| $case | ${T[container,$case,1]} s | ${T[container,$case,2]:--} s | ${T[host,$case,1]} s |" \
        "${T[host,$case,2]:--} s | $ratio |"
done
