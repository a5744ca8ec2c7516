"""Wall time of the whole case (``pdacrad.inference.case.run_case``: read, validate, both stages, write) run
``--repeat`` times in one process, so the first run's one-off costs (numba JIT of the radiomics kernels, torch
and nnU-Net warm-up, first imports) show as the difference to the later runs. Runtime dependencies only, so the
same file runs in the container (mounted read-only) and on the host:

    python benchmarks/repeat_case.py --input DIR --output DIR [--resources DIR] [--repeat 2] [--synth-size X Y Z]

With ``--synth-size`` it first writes one synthetic case of that size (voxels, x y z; the seed of
benchmarks/inference.py) to ``--input``. Prints one line per run: ``run N: S s``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--resources", type=Path, default=Path("resources"))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--synth-size", type=int, nargs=3, default=None, metavar=("X", "Y", "Z"))
    parser.add_argument("--seed", type=int, default=4242)
    args = parser.parse_args()

    from pdacrad.cli.logging_setup import configure_logging

    configure_logging()
    log = logging.getLogger("pdacrad.bench")
    if args.synth_size:
        import SimpleITK as sitk

        from pdacrad.io import INPUT_IMAGE_SUBDIR
        from pdacrad.synth.cohort import generate_case

        ct, _, _ = generate_case("bench", args.seed, True, "hypo", size_xyz=tuple(args.synth_size))
        folder = args.input / INPUT_IMAGE_SUBDIR
        folder.mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(ct, str(folder / "bench.mha"), True)
        log.info("wrote a %s CT to %s", "x".join(map(str, args.synth_size)), folder)

    from pdacrad.inference.case import run_case

    for k in range(1, args.repeat + 1):
        t0 = time.perf_counter()
        run_case(args.input, args.output / f"run{k}", args.resources, args.device)
        sys.stdout.write(f"run {k}: {time.perf_counter() - t0:.1f} s\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
