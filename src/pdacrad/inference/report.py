"""Per-case visual report: a PNG with axial slices through the top lesion candidates (CT window W400/L40, Stage-1
pancreas contour, detection-map overlay, likelihood in the title) and a JSON summary of the candidates (centre in
mm, physical LPS; volume in mL; confidence).

Written by ``pdacrad predict --report DIR`` and ``pdacrad predict-cohort --report DIR`` as
``DIR/<case>.png`` and ``DIR/<case>.json``. The JSON also carries the case's warnings (e.g. an input whose
intensities do not look like HU, a pancreas too small to count) and the input's intensity check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from pdacrad.io import atomic_write, atomic_write_json

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pdacrad.inference.pipeline import PipelineResult

WINDOW_HU = (40.0 - 400.0 / 2, 40.0 + 400.0 / 2)
"""Soft-tissue window W400/L40 in HU, (low, high)."""
MAX_PANELS = 3
FORMAT_VERSION = 1


@dataclass(frozen=True)
class LesionCandidate:
    """One connected lesion candidate of a detection map.

    Attributes:
        confidence: its value in the detection map, in [0, 1].
        centre_mm: centroid in physical coordinates (x, y, z), mm, ITK/DICOM LPS.
        centre_index: centroid voxel index (x, y, z), rounded.
        volume_ml: voxels × voxel volume, mL.
        voxels: number of voxels.
    """

    confidence: float
    centre_mm: tuple[float, float, float]
    centre_index: tuple[int, int, int]
    volume_ml: float
    voxels: int


@dataclass(frozen=True)
class CaseReport:
    """Where :func:`write_case_report` wrote the case's PNG and JSON, and the candidates it found."""

    png: Path
    json: Path
    candidates: tuple[LesionCandidate, ...]


def lesion_candidates(detection_map: sitk.Image) -> tuple[LesionCandidate, ...]:
    """Connected components (26-connectivity) of each confidence level of a detection map, most confident first
    (ties: larger first). Each candidate of ``report_guided_annotation`` is one constant-valued blob."""
    array = sitk.GetArrayViewFromImage(detection_map)  # (z, y, x)
    voxel_ml = float(np.prod(detection_map.GetSpacing())) / 1000.0
    found = []
    for value in np.unique(array[array > 0]):
        components, n = ndimage.label(array == value, structure=np.ones((3, 3, 3), bool))
        for k in range(1, n + 1):
            zyx = np.argwhere(components == k)
            centre_zyx = zyx.mean(axis=0)
            centre_xyz = tuple(float(c) for c in centre_zyx[::-1])
            point = detection_map.TransformContinuousIndexToPhysicalPoint(centre_xyz)
            found.append(
                LesionCandidate(
                    confidence=float(value),
                    centre_mm=(float(point[0]), float(point[1]), float(point[2])),
                    centre_index=(round(centre_xyz[0]), round(centre_xyz[1]), round(centre_xyz[2])),
                    volume_ml=len(zyx) * voxel_ml,
                    voxels=len(zyx),
                )
            )
    return tuple(sorted(found, key=lambda c: (-c.confidence, -c.voxels)))


def _to_lps(image: sitk.Image) -> sitk.Image:
    """Reorient so that numpy (z, y, x) rows run anterior → posterior and columns patient right → left: the
    radiological display convention for axial slices, whatever the input's direction."""
    return sitk.DICOMOrient(image, "LPS")


def _slices_to_show(
    candidates: Sequence[LesionCandidate], pancreas: sitk.Image, ct: sitk.Image
) -> list[tuple[int, str]]:
    """(axial index in the LPS-oriented volume, panel caption) for up to :data:`MAX_PANELS` lesions; without
    lesions, one slice through the pancreas centre (or the middle slice)."""
    reoriented = _to_lps(ct)
    panels = []
    for rank, c in enumerate(candidates[:MAX_PANELS], start=1):
        index = reoriented.TransformPhysicalPointToIndex(c.centre_mm)
        panels.append((int(index[2]), f"#{rank}: confidence {c.confidence:.2f}, {c.volume_ml:.2f} mL"))
    if not panels:
        mask = sitk.GetArrayFromImage(_to_lps(pancreas))
        z = int(np.argwhere(mask).mean(axis=0)[0]) if mask.any() else mask.shape[0] // 2
        panels.append((z, "no lesion candidate"))
    return panels


def render_case_figure(
    ct: sitk.Image,
    detection_map: sitk.Image,
    pancreas_mask: sitk.Image,
    likelihood: float,
    case_id: str,
    candidates: Sequence[LesionCandidate],
) -> Figure:
    """The report figure: one axial panel per shown lesion (see :func:`_slices_to_show`), CT in W400/L40 grey,
    the pancreas contour in cyan and the detection map in red→yellow (transparent where 0)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    ct_a = sitk.GetArrayFromImage(_to_lps(ct)).astype(np.float32)
    det_a = sitk.GetArrayFromImage(_to_lps(detection_map))
    panc_a = sitk.GetArrayFromImage(_to_lps(pancreas_mask)) > 0
    sx, sy = _to_lps(ct).GetSpacing()[:2]
    panels = _slices_to_show(candidates, pancreas_mask, ct)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4.9), squeeze=False)
    for ax, (z, caption) in zip(axes[0], panels, strict=True):
        ax.imshow(ct_a[z], cmap="gray", vmin=WINDOW_HU[0], vmax=WINDOW_HU[1], aspect=sy / sx)
        overlay = np.ma.masked_less_equal(det_a[z], 0.0)
        ax.imshow(overlay, cmap="autumn_r", vmin=0.0, vmax=1.0, alpha=0.6, aspect=sy / sx)
        if panc_a[z].any():
            ax.contour(panc_a[z].astype(float), levels=[0.5], colors="cyan", linewidths=0.8)
        ax.set_title(f"{caption}\naxial slice {z} (LPS)", fontsize=9)
        ax.set_axis_off()
    fig.suptitle(f"{case_id}: PDAC likelihood {likelihood:.3f}  (CT W400/L40, pancreas contour cyan)")
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 0.92))  # leave room for the suptitle
    return fig


def _summary(case_id: str, result: PipelineResult, candidates: Sequence[LesionCandidate]) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "case": case_id,
        "likelihood": float(result.likelihood),
        "raw_likelihood": None if result.raw_likelihood is None else float(result.raw_likelihood),
        "pancreas_found": bool(result.pancreas_found),
        "warnings": list(result.warnings),
        "input_intensity": None if result.intensity is None else result.intensity.to_dict(),
        "coordinate_system": "LPS (ITK physical space), mm",
        "lesion_candidates": [asdict(c) for c in candidates],
    }


def write_case_report(result: PipelineResult, image: sitk.Image, out_dir: Path, case_id: str) -> CaseReport:
    """Write ``<out_dir>/<case_id>.png`` and ``<out_dir>/<case_id>.json`` (each atomically) for one case.

    Args:
        result: the pipeline's output for ``image`` (detection map, likelihood, Stage-1 pancreas mask).
        image: the input CT (HU) the result was computed from; same grid as ``result.detection_map``.
        out_dir: report folder (created).
        case_id: file stem and title of the report.
    """
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    candidates = lesion_candidates(result.detection_map)
    fig = render_case_figure(
        image, result.detection_map, result.pancreas_mask, result.likelihood, case_id, candidates
    )
    png, json_path = out_dir / f"{case_id}.png", out_dir / f"{case_id}.json"
    try:
        atomic_write(png, lambda tmp: fig.savefig(tmp, format="png", dpi=fig.dpi))
    finally:
        plt.close(fig)
    atomic_write_json(_summary(case_id, result, candidates), json_path)
    return CaseReport(png, json_path, candidates)
