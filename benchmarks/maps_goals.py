"""Issue #22's goals in one table (``maps_vs_pyradiomics.py --goals``): every family's speed ratio to PyRadiomics at
kernelRadius 2 and 5 on raw CT (Original image, binWidth 25, all features of the family, GLCM with MCC), and the
paper's eight maps at kernelRadius 5 on one core and on all cores; each goal marked met / not met.

    .venv/bin/python benchmarks/maps_vs_pyradiomics.py --goals [--radii 2,5] [--families glcm,...]
        [--image CT --mask PANCREAS] [--dilate 2 | --dilate-mm 15] [--pyradiomics-voxels 300] [--skip-paper]
        [--voxel-batch -1]

Family rows. Both sides run in this process on the same cropped image, single-threaded (``OMP_NUM_THREADS=1``,
torch 1 thread, one pdacrad worker), each timed in process CPU seconds and wall seconds:
- **end to end**: one call on the whole ROI. PyRadiomics: its feature class constructed and ``execute()``-d in
  voxel mode (its default voxel batch, the whole ROI, unless ``--voxel-batch`` bounds its memory: its dense
  ``(voxels, G, G, angles)`` GLCM needs ~2 GB per array at 11k voxels and 41 levels). pdacrad: the engine core for the family (``_family_maps``:
  discretisation, ROI-level preparation, batches, features) after one warm-up call (numba compiled or loaded).
- **marginal**: the same call on a 9-voxel mask (3 × 3 voxels in one slice at the ROI's centre, same image)
  subtracted on each side, so fixed per-call costs (set-up, discretising the image, dispatch) drop out: the cost
  that the ROI's size multiplies. The goals are judged on the marginal CPU-time ratio (the issue's "start-up
  removed"); the end-to-end ratios stand beside it.

Paper rows: ``paper_set`` of ``maps_vs_pyradiomics.py`` (its method: PyRadiomics' voxel batch timed on
``--pyradiomics-voxels`` voxels per group and extrapolated to the ROI; pdacrad on the whole ROI, one worker in CPU
seconds and all cores in wall seconds).
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, replace

import numpy as np
import SimpleITK as sitk
import torch

from pdacrad.radiomics.backend import Backend
from pdacrad.radiomics.filters import FilteredImage, iter_image_types, prepare
from pdacrad.radiomics.maps import FAMILIES, _family_maps
from pdacrad.radiomics.settings import settings_from_dict

CLASSES = {
    "firstorder": "RadiomicsFirstOrder",
    "glcm": "RadiomicsGLCM",
    "glrlm": "RadiomicsGLRLM",
    "glszm": "RadiomicsGLSZM",
    "gldm": "RadiomicsGLDM",
    "ngtdm": "RadiomicsNGTDM",
}
FAMILY_GOALS = {("glcm", 2): 50.0, ("glcm", 5): 20.0}
"""Issue #22: GLCM, all features incl. MCC, raw CT binWidth 25, one core: ≥ 50× at r = 2, ≥ 20× at r = 5."""
PAPER_GOALS = {"one core": 15.0, "all cores": 25.0}
"""Issue #22: the paper's eight maps at r = 5: ≥ 15× on one core, ≥ 25× on all cores (PyRadiomics one core)."""


@dataclass(frozen=True)
class Timing:
    """Process CPU seconds and wall seconds of one call."""

    cpu: float
    wall: float


def _timed(fn: object) -> Timing:
    cpu, wall = time.process_time(), time.perf_counter()
    fn()  # type: ignore[operator]
    return Timing(time.process_time() - cpu, time.perf_counter() - wall)


def nine_voxel_mask(mask: sitk.Image) -> sitk.Image:
    """3 × 3 voxels in one axial slice around the ROI voxel nearest the ROI's centroid, on ``mask``'s grid."""
    arr = sitk.GetArrayFromImage(mask)
    roi = np.argwhere(arr == 1)
    z, y, x = roi[np.argmin(((roi - roi.mean(axis=0)) ** 2).sum(axis=1))]
    small = np.zeros_like(arr)
    y0, x0 = min(max(y - 1, 0), arr.shape[1] - 3), min(max(x - 1, 0), arr.shape[2] - 3)
    small[z, y0 : y0 + 3, x0 : x0 + 3] = 1
    out = sitk.GetImageFromArray(small)
    out.CopyInformation(mask)
    return out


def _pyradiomics(filtered: FilteredImage, family: str, voxel_batch: int) -> Timing:
    cls = getattr(importlib.import_module(f"radiomics.{family}"), CLASSES[family])
    settings = {**filtered.settings, "voxelBased": True, "voxelBatch": voxel_batch}

    def run() -> None:
        extractor = cls(filtered.image, filtered.mask, **settings)
        extractor.enableAllFeatures()
        extractor.execute()

    return _timed(run)


def _pdacrad(filtered: FilteredImage, family: str, backend: Backend) -> Timing:
    names = list(importlib.import_module(f"pdacrad.radiomics.{family}").FEATURES)

    def run() -> None:
        _family_maps(filtered, family, names, backend, torch.float64, 1, None)

    run()  # warm-up: numba kernels compiled or loaded from the cache
    return _timed(run)


def family_rows(
    image: sitk.Image,
    mask: sitk.Image,
    radii: list[int],
    families: list[str],
    backend: Backend,
    voxel_batch: int = -1,
) -> list[dict[str, object]]:
    """One row per (radius, family): end-to-end and 9-voxel timings of both sides on the cropped Original image
    (PyRadiomics with ``voxelBatch`` = ``voxel_batch``; -1, its default, is the whole ROI in one batch)."""
    rows = []
    for radius in radii:
        params = {
            "setting": {"binWidth": 25},
            "voxelSetting": {"kernelRadius": radius},
            "imageType": {"Original": {}},
        }
        full = next(iter_image_types(prepare(image, mask, settings_from_dict(params)), {"Original": {}}))
        small = replace(full, mask=nine_voxel_mask(full.mask))
        n_roi = int((sitk.GetArrayFromImage(full.mask) == 1).sum())
        for family in [f for f in FAMILIES if f in families]:
            theirs, theirs9 = (
                _pyradiomics(full, family, voxel_batch),
                _pyradiomics(small, family, voxel_batch),
            )
            ours, ours9 = _pdacrad(full, family, backend), _pdacrad(small, family, backend)
            marginal = (theirs.cpu - theirs9.cpu) / max(ours.cpu - ours9.cpu, 1e-9)
            goal = FAMILY_GOALS.get((family, radius))
            rows.append(
                {
                    "family": family,
                    "radius": radius,
                    "voxels": n_roi,
                    "theirs": theirs,
                    "theirs9": theirs9,
                    "ours": ours,
                    "ours9": ours9,
                    "marginal": marginal,
                    "goal": goal,
                }
            )
            print(f"  r={radius} {family}: marginal {marginal:.1f}x", flush=True)
    return rows


def _verdict(ratio: float, goal: float | None) -> str:
    if goal is None:
        return "–"
    return f"≥ {goal:g}×: **{'met' if ratio >= goal else 'not met'}**"


def print_table(rows: list[dict[str, object]], paper: dict[str, float] | None) -> None:
    """The goals table (Markdown, ready for ``benchmarks/RESULTS.md``)."""
    print("\n## Goals of issue #22 — every family on raw CT (Original, binWidth 25, all features), one core")
    print(
        "| family | r | ROI voxels | PyRadiomics CPU-s (ROI / 9 vox) | pdacrad CPU-s (ROI / 9 vox) "
        "| **marginal ratio** (CPU, start-up removed) | end-to-end ratio CPU | PyRadiomics wall s | pdacrad wall s "
        "| end-to-end ratio wall | goal |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        t, t9, o, o9 = (row[k] for k in ("theirs", "theirs9", "ours", "ours9"))
        assert (
            isinstance(t, Timing)
            and isinstance(t9, Timing)
            and isinstance(o, Timing)
            and isinstance(o9, Timing)
        )
        marginal = float(row["marginal"])  # type: ignore[arg-type]
        goal = row["goal"]
        print(
            f"| {row['family']} | {row['radius']} | {row['voxels']:,} | {t.cpu:.2f} / {t9.cpu:.2f} "
            f"| {o.cpu:.3f} / {o9.cpu:.3f} | **{marginal:.1f}×** | {t.cpu / o.cpu:.1f}× | {t.wall:.2f} "
            f"| {o.wall:.3f} | {t.wall / o.wall:.1f}× | {_verdict(marginal, goal)} |"  # type: ignore[arg-type]
        )
    if paper is None:
        return
    print("\n| paper's eight maps, r = 5 | PyRadiomics CPU-s (1 core) | pdacrad | ratio | goal |")
    print("|---|---|---|---|---|")
    theirs = paper["theirs"]
    for label, ours, unit in [
        ("one core", paper["ours_cpu"], "CPU-s, 1 worker"),
        ("all cores", paper["ours_wall"], f"s wall, {paper['workers']:.0f} workers"),
    ]:
        ratio = theirs / ours
        print(
            f"| {label} | {theirs:.1f} | {ours:.2f} {unit} | **{ratio:.1f}×** "
            f"| {_verdict(ratio, PAPER_GOALS[label])} |"
        )
