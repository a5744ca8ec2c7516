"""Cost of the Stage-2 global vector: the whole ``paper_global.yaml`` (original + 7 LoG + 8 wavelet images, every
class: 1,502 features) against the params pruned to a 10-feature selection (``params_for_features``), on the
tests' real CT and its pancreas mask (tests/data, 122×101×30 voxels at 3 mm, 644 pancreas voxels).

    .venv/bin/python benchmarks/global_vector.py              # 3 repeats of each side
    .venv/bin/python benchmarks/global_vector.py --repeats 5
    .venv/bin/python benchmarks/global_vector.py --size 512 512 80 --repeats 1   # the same case resampled

``--size X Y Z`` resamples the case onto X×Y×Z voxels over the same physical extent (CT linear, mask nearest
neighbour) to show how the cost of the whole-image filters (LoG, wavelet) grows with a real CT's grid; the values
are those of an interpolated image, not of a real scan at that resolution.

Both sides run PyRadiomics' extractor in this process, alternating, after one warm-up call of each; the script
checks that the selected values are equal, then prints the median wall and CPU seconds (this process's user +
system: meaningful on a shared machine) per side, their ratio, and the load average.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from pathlib import Path

import SimpleITK as sitk
import yaml

from pdacrad.radiomics import compute_features
from pdacrad.radiomics.settings import PARAMS_DIR
from pdacrad.radiomics.subset import params_for_features

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
#: A selection of the size the paper's pipeline keeps, over original, LoG, wavelet and shape.
SELECTED = [
    "original_shape_Sphericity",
    "original_shape_Maximum3DDiameter",
    "original_firstorder_Skewness",
    "original_glcm_Correlation",
    "original_ngtdm_Busyness",
    "log-sigma-3-0-mm-3D_firstorder_Median",
    "log-sigma-5-0-mm-3D_glrlm_RunEntropy",
    "wavelet-LLH_glszm_SmallAreaEmphasis",
    "wavelet-HHL_firstorder_Mean",
    "wavelet-LLL_gldm_DependenceEntropy",
]


def resampled(image: sitk.Image, mask: sitk.Image, size: list[int]) -> tuple[sitk.Image, sitk.Image]:
    """``image`` (linear, int16) and ``mask`` (nearest neighbour) on ``size`` voxels over the same extent."""
    spacing = [s * n / m for s, n, m in zip(image.GetSpacing(), image.GetSize(), size, strict=True)]
    grid = sitk.Image(size, sitk.sitkUInt8)
    grid.SetSpacing(spacing)
    grid.SetDirection(image.GetDirection())
    grid.SetOrigin(
        image.TransformContinuousIndexToPhysicalPoint(
            [(s / 2) / sp - 0.5 for s, sp in zip(spacing, image.GetSpacing(), strict=True)]
        )
    )
    ct = sitk.Resample(image, grid, sitk.Transform(), sitk.sitkLinear, -1024.0, sitk.sitkInt16)
    return ct, sitk.Resample(mask, grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


def timed(image: sitk.Image, mask: sitk.Image, params: dict) -> tuple[float, float, dict[str, float]]:
    """Wall and CPU seconds of one extraction, and its features."""
    wall, cpu = time.perf_counter(), time.process_time()
    features = compute_features(image, mask, params)
    return time.perf_counter() - wall, time.process_time() - cpu, features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed calls of each side (median reported)")
    parser.add_argument("--size", type=int, nargs=3, metavar=("X", "Y", "Z"), help="resample the case first")
    args = parser.parse_args()
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    image = sitk.ReadImage(str(DATA / "ts_native_abdomen_ct.nii.gz"))
    mask = sitk.ReadImage(str(DATA / "ts_native_abdomen_pancreas_mask.nii.gz"))
    if args.size:
        image, mask = resampled(image, mask, args.size)
    n_roi = int(sitk.GetArrayViewFromImage(mask).sum())
    print(
        f"case {image.GetSize()} voxels (x, y, z) at {[round(s, 3) for s in image.GetSpacing()]} mm, {n_roi} ROI"
    )
    full_params = yaml.safe_load((PARAMS_DIR / "paper_global.yaml").read_text())
    pruned_params = params_for_features(full_params, SELECTED)
    sides = {"full": full_params, "pruned": pruned_params}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    features = {name: timed(image, mask, params)[2] for name, params in sides.items()}  # warm-up
    unequal = [f for f in SELECTED if features["full"][f] != features["pruned"][f]]
    if unequal:
        raise SystemExit(f"pruned values differ from the full extraction's: {unequal}")
    for _ in range(args.repeats):
        for name, params in sides.items():
            results[name].append(timed(image, mask, params)[:2])
    print(f"{len(SELECTED)} selected features, equal in both; median of {args.repeats} call(s) per side")
    print(f"{'side':8} {'features':>8} {'wall s':>8} {'CPU s':>8}")
    medians = {}
    for name, runs in results.items():
        medians[name] = (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
        print(f"{name:8} {len(features[name]):8d} {medians[name][0]:8.3f} {medians[name][1]:8.3f}")
    ratio_wall = medians["full"][0] / medians["pruned"][0]
    ratio_cpu = medians["full"][1] / medians["pruned"][1]
    print(
        f"full / pruned: {ratio_wall:.1f}× wall, {ratio_cpu:.1f}× CPU; load average {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
