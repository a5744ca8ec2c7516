"""Pictures of the cases on which the variants disagree most: one axial slice of the CT with the reference lesion
outlined, then each variant's detection map over it with its likelihood, so a reader sees *what* one model found
and another missed."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never open a window (headless containers and CI)
import matplotlib.pyplot as plt
import numpy as np
import SimpleITK as sitk

from pdacrad.evaluation.metrics import case_scores
from pdacrad.evaluation.study import EvaluationResult
from pdacrad.io import atomic_write
from pdacrad.io.predictions import CasePrediction, label_path, variant_label
from pdacrad.labels import PANCREAS_LABELS

logger = logging.getLogger(__name__)

WINDOW_HU = (-160.0, 240.0)
"""Display window of the CT (level 40, width 400 HU: the abdomen window the maps use)."""
_MARGIN_VOXELS = 24
_IMAGE_SUFFIXES = ("_0000.nii.gz", ".nii.gz", ".mha", "_0000.mha")


def disagreement_cases(result: EvaluationResult, k: int = 4) -> list[str]:
    """The ``k`` cases with the widest range of likelihood across variants (largest first; ties by case id);
    empty with fewer than two variants."""
    if len(result.variants) < 2:
        return []
    scores = [{str(c): float(p) for c, p in case_scores(v.metrics).items()} for v in result.variants]
    spread = {c: max(s[c] for s in scores) - min(s[c] for s in scores) for c in scores[0]}
    return sorted(spread, key=lambda c: (-spread[c], c))[:k]


def find_image(images_dir: Path, case: str) -> Path | None:
    """The CT of ``case`` in ``images_dir`` (nnU-Net's ``<case>_0000.nii.gz``, or ``<case>.nii.gz``/``.mha``)."""
    for suffix in _IMAGE_SUFFIXES:
        path = Path(images_dir) / f"{case}{suffix}"
        if path.is_file():
            return path
    return None


def _read(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def _pick_slice(label: np.ndarray, detections: Sequence[np.ndarray], lesion_label: int) -> int:
    """The axial slice with most reference lesion; else with the highest detection; else most pancreas."""
    lesion = (label == lesion_label).sum(axis=(1, 2))
    if lesion.any():
        return int(np.argmax(lesion))
    peak = (
        np.max([d.max(axis=(1, 2)) for d in detections], axis=0) if detections else np.zeros(label.shape[0])
    )
    if peak.any():
        return int(np.argmax(peak))
    return int(np.argmax(np.isin(label, PANCREAS_LABELS).sum(axis=(1, 2))))


def _crop(label: np.ndarray) -> tuple[slice, slice]:
    """In-plane box around the labelled pancreas and lesion (every slice) with a margin; the whole plane if none."""
    _, ys, xs = np.nonzero(label)
    if ys.size == 0:
        return slice(None), slice(None)
    return (
        slice(max(0, ys.min() - _MARGIN_VOXELS), ys.max() + _MARGIN_VOXELS + 1),
        slice(max(0, xs.min() - _MARGIN_VOXELS), xs.max() + _MARGIN_VOXELS + 1),
    )


def plot_case(
    case: str,
    image: Path,
    label_file: Path,
    maps: Mapping[str, Path],
    likelihoods: Mapping[str, float],
    path: Path,
    lesion_label: int = 1,
) -> Path:
    """One row: the CT slice with the reference lesion (red) and pancreas (yellow) outlined, then per variant its
    detection map (colour, 0 transparent) over the CT, titled with its case likelihood."""
    ct_image = sitk.ReadImage(str(image))
    ct, label = sitk.GetArrayFromImage(ct_image), _read(label_file)
    detections = {v: _read(p) for v, p in maps.items()}
    z = _pick_slice(label, list(detections.values()), lesion_label)
    ys, xs = _crop(label)
    spacing = ct_image.GetSpacing()  # x, y, z
    aspect = spacing[1] / spacing[0]
    fig, axes = plt.subplots(
        1, 1 + len(detections), figsize=(2.6 * (1 + len(detections)), 2.9), squeeze=False
    )
    panels = axes[0]
    for ax in panels:
        ax.imshow(ct[z, ys, xs], cmap="gray", vmin=WINDOW_HU[0], vmax=WINDOW_HU[1], aspect=aspect)
        ax.set_axis_off()
    truth = "PDAC" if (label == lesion_label).any() else "no PDAC"
    panels[0].contour(
        np.isin(label[z, ys, xs], PANCREAS_LABELS), levels=[0.5], colors="yellow", linewidths=0.6
    )
    if (label[z] == lesion_label).any():
        panels[0].contour(label[z, ys, xs] == lesion_label, levels=[0.5], colors="red", linewidths=0.9)
    panels[0].set_title(f"{case}\n{truth}, slice {z}", fontsize=8)
    for ax, (variant, det) in zip(panels[1:], detections.items(), strict=True):
        shown = np.ma.masked_less_equal(det[z, ys, xs], 0.0)
        ax.imshow(shown, cmap="autumn", vmin=0.0, vmax=1.0, alpha=0.6, aspect=aspect)
        if (label[z] == lesion_label).any():
            ax.contour(label[z, ys, xs] == lesion_label, levels=[0.5], colors="cyan", linewidths=0.6)
        ax.set_title(f"{variant_label(variant)}\nlikelihood {likelihoods[variant]:.2f}", fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return path


def write_case_figures(
    result: EvaluationResult,
    predictions: Mapping[str, Sequence[CasePrediction]],
    images_dir: Path,
    labels_dir: Path,
    out_dir: Path,
    k: int = 4,
) -> list[Path]:
    """PNGs (``<out_dir>/<case>.png``) of the :func:`disagreement_cases`; cases whose CT is not in
    ``images_dir`` are skipped with a warning."""
    paths = []
    for case in disagreement_cases(result, k):
        image = find_image(images_dir, case)
        if image is None:
            logger.warning("no CT of %s in %s: no case figure", case, images_dir)
            continue
        maps = {v: next(p.detection_map for p in preds if p.case == case) for v, preds in predictions.items()}
        likelihoods = {v.variant: float(case_scores(v.metrics)[case]) for v in result.variants}
        paths.append(
            plot_case(
                case,
                image,
                label_path(labels_dir, case),
                maps,
                likelihoods,
                Path(out_dir) / f"{case}.png",
                result.config.lesion_label,
            )
        )
    return paths
