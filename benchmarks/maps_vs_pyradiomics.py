"""Parametric maps: pdacrad vs PyRadiomics voxel mode, timed in the same run on the same real ROI.

    .venv/bin/python benchmarks/maps_vs_pyradiomics.py [--pyradiomics-voxels 150] [--radius 2]

ROI: the real abdominal CT of tests/data with its pancreas mask (644 voxels), cropped like PyRadiomics' extractor.
PyRadiomics is timed on its own voxel-batch code path (``_calculateFeatures`` on the first N ROI voxels, exactly
what ``execute`` runs per batch, kernels drawn from the whole ROI) and reported as voxels/s; pdacrad computes the
whole ROI through ``compute_maps``. The ratio is of voxels/s. Then the paper's eight map features (params
``paper_maps.yaml``, kernelRadius 2) the same way, and pdacrad's peak memory for the paper set at kernelRadius 5 on
a 160×160×60 ROI (synthetic CT-like volume; mask = sparse voxels spanning the whole box so every batch is full).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import platform
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import SimpleITK as sitk
import torch

from pdacrad.radiomics import compute_maps
from pdacrad.radiomics.filters import FilteredImage, iter_image_types, prepare
from pdacrad.radiomics.maps import FAMILIES, FeatureName, _family_maps
from pdacrad.radiomics.settings import PARAMS_DIR, load_settings, settings_from_dict

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
CLASSES = {
    "firstorder": "RadiomicsFirstOrder",
    "glcm": "RadiomicsGLCM",
    "glrlm": "RadiomicsGLRLM",
    "glszm": "RadiomicsGLSZM",
    "gldm": "RadiomicsGLDM",
    "ngtdm": "RadiomicsNGTDM",
}


def pyradiomics_seconds_per_voxel(
    image: sitk.Image, mask: sitk.Image, family: str, features: list[str] | None, settings: dict, n: int
) -> float:
    """Seconds per voxel of PyRadiomics' voxel batch on the first ``n`` ROI voxels (cropped image/mask)."""
    cls = getattr(importlib.import_module(f"radiomics.{family}"), CLASSES[family])
    extractor = cls(image, mask, **{**settings, "voxelBased": True})
    if features:
        for f in features:
            extractor.enableFeatureByName(f)
    else:
        extractor.enableAllFeatures()
    coords = extractor.labelledVoxelCoordinates[:, :n]
    start = time.perf_counter()
    for _ in extractor._calculateFeatures(coords):
        pass
    return (time.perf_counter() - start) / coords.shape[1]


def ours_seconds_per_voxel(
    filtered: FilteredImage, family: str, features: list[str], repeat: int = 2
) -> float:
    """Seconds per voxel of pdacrad on the same cropped image (discretisation, kernel gathering and features; the
    shared pre-processing and filters are excluded, as for PyRadiomics). Best of ``repeat`` runs after a warm-up."""
    n_roi = int((sitk.GetArrayFromImage(filtered.mask) == 1).sum())
    _family_maps(filtered, family, features, torch.device("cpu"), torch.float64, 1, None)  # warm-up
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        _family_maps(filtered, family, features, torch.device("cpu"), torch.float64, 1, None)
        best = min(best, time.perf_counter() - start)
    return best / n_roi


def family_table(image: sitk.Image, mask: sitk.Image, radius: int, n: int) -> None:
    params = {
        "setting": {"binWidth": 25},
        "voxelSetting": {"kernelRadius": radius},
        "imageType": {"Original": {}},
    }
    case = prepare(image, mask, settings_from_dict(params))
    cropped = next(iter_image_types(case, {"Original": {}}))
    print(f"\n## Per family, kernelRadius {radius}, ROI {int(sitk.GetArrayFromImage(mask).sum())} voxels")
    print(f"{'family':12s} {'PyRadiomics vox/s':>18s} {'pdacrad vox/s':>14s} {'ratio':>7s}")
    for family in FAMILIES:
        try:
            module = importlib.import_module(f"pdacrad.radiomics.{family}")
        except ModuleNotFoundError:
            print(f"{family:12s} {'(not implemented)':>18s}")
            continue
        theirs = pyradiomics_seconds_per_voxel(cropped.image, cropped.mask, family, None, cropped.settings, n)
        ours = ours_seconds_per_voxel(cropped, family, list(module.FEATURES))
        print(f"{family:12s} {1 / theirs:18.0f} {1 / ours:14.0f} {theirs / ours:7.1f}")


def paper_set(image: sitk.Image, mask: sitk.Image, radius: int, n: int) -> None:
    settings = load_settings(PARAMS_DIR / "paper_maps.yaml")
    params = settings.as_pyradiomics()
    params["voxelSetting"]["kernelRadius"] = radius
    params["pdacrad"] = {"intensityWindow": list(settings.intensity_window or ())}
    cfg = settings_from_dict(params)
    wanted = [FeatureName.parse(f) for f in settings.maps]
    start = time.perf_counter()
    case = prepare(image, mask, cfg)
    filtered_images = list(iter_image_types(case, {k: dict(v) for k, v in cfg.image_types.items()}))
    shared = time.perf_counter() - start  # pre-processing and filters: the same code for both
    theirs_total = ours_total = shared
    n_roi = int((sitk.GetArrayFromImage(case.mask) == 1).sum())
    for filtered in filtered_images:
        groups: dict[str, list[str]] = {}
        for f in wanted:
            if f.image == filtered.name:
                groups.setdefault(f.family, []).append(f.feature)
        for family, feats in groups.items():
            per_voxel = pyradiomics_seconds_per_voxel(
                filtered.image, filtered.mask, family, feats, filtered.settings, n
            )
            theirs_total += per_voxel * n_roi
            ours_total += ours_seconds_per_voxel(filtered, family, feats, repeat=1) * n_roi
    ours = ours_total
    print(
        f"\n## Paper set (8 features, paper_maps.yaml, kernelRadius {radius}; {n_roi} ROI voxels after resampling)"
    )
    print(f"shared pre-processing + filters (same PyRadiomics code for both): {shared:8.1f} s")
    print(f"PyRadiomics total, voxel mode extrapolated from {n} voxels/group: {theirs_total:8.1f} s")
    print(f"pdacrad total, measured on the whole ROI:                      {ours:8.1f} s")
    print(f"voxel-mode part only: PyRadiomics {theirs_total - shared:.1f} s, pdacrad {ours - shared:.1f} s")
    print(f"ratio: {theirs_total / ours:.1f}x")


def peak_memory(radius: int = 5) -> None:
    rng = np.random.default_rng(0)
    shape = (60, 160, 160)  # z, y, x
    ct = (40 + 30 * rng.standard_normal(shape)).astype(np.int16)
    image = sitk.GetImageFromArray(ct)
    image.SetSpacing((0.75, 0.75, 1.5))
    mask_arr = np.zeros(shape, np.uint8)
    mask_arr[rng.random(shape) < 0.002] = 1
    for corner in [(0, 0, 0), (59, 159, 159)]:
        mask_arr[corner] = 1
    mask = sitk.GetImageFromArray(mask_arr)
    mask.CopyInformation(image)
    settings = load_settings(PARAMS_DIR / "paper_maps.yaml")
    params = settings.as_pyradiomics()
    params["setting"]["resampledPixelSpacing"] = None  # keep the 160×160×60 grid
    params["voxelSetting"]["kernelRadius"] = radius
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    compute_maps(image, mask, params, list(settings.maps), device="cpu")
    elapsed = time.perf_counter() - start
    done.set()
    thread.join()
    n = int(mask_arr.sum())
    print(
        f"\n## Peak memory, paper set, kernelRadius {radius}, ROI 160×160×60 ({n} sparse ROI voxels spanning the box)"
    )
    print(f"peak RSS {peak[0] / 2**30:.2f} GiB (process baseline {base / 2**30:.2f} GiB); {elapsed:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pyradiomics-voxels", type=int, default=150, help="ROI voxels PyRadiomics is timed on"
    )
    parser.add_argument("--radius", type=int, default=2)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    print(
        f"# maps_vs_pyradiomics — {platform.processor() or platform.machine()}, {psutil.cpu_count()} CPUs, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )
    image = sitk.ReadImage(str(DATA / "ts_native_abdomen_ct.nii.gz"))
    mask = sitk.ReadImage(str(DATA / "ts_native_abdomen_pancreas_mask.nii.gz"))
    family_table(image, mask, args.radius, args.pyradiomics_voxels)
    paper_set(image, mask, args.radius, args.pyradiomics_voxels)
    if not args.skip_memory:
        peak_memory()


if __name__ == "__main__":
    main()
