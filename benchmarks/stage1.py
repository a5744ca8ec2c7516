"""Stage-1 latency before and after, side by side in one process, on one large synthetic CT (default
512×512×100 voxels, x, y, z, at 0.75×0.75×2.0 mm) with the packaged Stage 1 (``resources/stage1``):

* before: nnU-Net's ``predict_single_npy_array`` (one network call per mirrored copy of each tile; every class's
  logits resampled to the whole CT, then argmax);
* after: :meth:`pdacrad.inference.predictor.StageModel.predict_labels` (a tile's mirrored copies as one batch on
  CPU; labels brought back only around the predicted pancreas).

    .venv/bin/python benchmarks/stage1.py [--resources resources] [--size-xyz 512 512 100]

Prints wall and CPU seconds of this process (user + system, all threads: the steadier figure on a shared
machine), their ratios, and how many voxels of the two pancreas masks differ.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resources", type=Path, default=ROOT / "resources")
    parser.add_argument("--size-xyz", type=int, nargs=3, default=(512, 512, 100))
    parser.add_argument("--spacing-xyz", type=float, nargs=3, default=(0.75, 0.75, 2.0))
    parser.add_argument("--seed", type=int, default=4242)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import numpy as np
    import SimpleITK as sitk
    import torch

    from pdacrad.inference.predictor import StageModel
    from pdacrad.synth.cohort import generate_case

    ct, _, _ = generate_case(
        "bench",
        args.seed,
        True,
        "hypo",
        size_xyz=tuple(args.size_xyz),
        spacing_xyz_mm=tuple(args.spacing_xyz),
    )
    array = sitk.GetArrayFromImage(sitk.Cast(ct, sitk.sitkInt16)).astype(np.float32)[None]
    sx, sy, sz = ct.GetSpacing()
    spacing = (float(sz), float(sy), float(sx))
    folder = args.resources / "stage1"
    cpu = torch.device("cpu")
    after = StageModel.load(folder, cpu, show_progress=False, batch_mirrors=True)
    before = StageModel.load(folder, cpu, show_progress=False, batch_mirrors=False)
    new, wall_new, cpu_new = _timed(lambda: after.predict_labels(array, spacing))
    old, wall_old, cpu_old = _timed(lambda: before.predict(array, spacing, probabilities=False).labels)
    differ = int(np.count_nonzero((old > 0) != (new > 0)))
    print(
        f"\nStage 1 on a CT of {tuple(args.size_xyz)} voxels (x, y, z) at {tuple(args.spacing_xyz)} mm, "
        f"{folder}, torch threads {torch.get_num_threads()}"
    )
    print(f"| {'path':<52} | {'wall s':>7} | {'CPU s':>7} |")
    print(f"|{'-' * 54}|{'-' * 9}|{'-' * 9}|")
    print(f"| {'before: nnU-Net predict_single_npy_array':<52} | {wall_old:7.1f} | {cpu_old:7.1f} |")
    print(
        f"| {'after: batched mirrors + labels around the pancreas':<52} | {wall_new:7.1f} | {cpu_new:7.1f} |"
    )
    print(f"speed-up: wall {wall_old / wall_new:.2f}×, CPU {cpu_old / cpu_new:.2f}×")
    print(
        f"pancreas voxels before {int(np.count_nonzero(old))}, after {int(np.count_nonzero(new))}, differ {differ}"
    )


if __name__ == "__main__":
    main()
