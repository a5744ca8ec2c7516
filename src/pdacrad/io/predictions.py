"""On-disk layout of predictions: one folder per case (what ``pdacrad predict-cohort`` writes), grouped by fold
and by ablation variant for cross-validation.

Per case (``predict-cohort`` output folder, or one fold of a variant)::

    <folder>/<case>/detection_map.mha   float32 lesion confidence in [0, 1], the input CT's geometry
    <folder>/<case>/likelihood.json     bare JSON float in [0, 1]: the case-level PDAC likelihood

Cross-validation predictions (input of ``pdacrad-train evaluate``)::

    <root>/<variant>/fold_<k>/<case>/...   the validation cases of fold k, predicted by fold k's model
    <root>/<variant>/<case>/...            (no fold_* folders: one pooled set, reported as fold "all")

``<variant>`` is ``base`` (CT only), ``maps`` (+ parametric maps), ``global`` (+ global radiomics vector) or
``both`` (:data:`pdacrad.model.radiomics_spec.VARIANTS`); other folder names are evaluated too, after these. ``base`` is
the reference of paired tests.
Labels are PANORAMA label maps ``<labels_dir>/<case>.nii.gz`` (label 1 = PDAC) on the same grid as the maps.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from pdacrad.errors import InvalidInputError

DETECTION_MAP_NAME = "detection_map.mha"
LIKELIHOOD_NAME = "likelihood.json"
REFERENCE_VARIANT = "base"
VARIANT_LABELS: dict[str, str] = {
    "base": "base",
    "maps": "+maps",
    "global": "+global",
    "both": "+both",
}
"""Known ablation variants (folder name → label in tables and plots), in display order."""
POOLED = "pooled"
UNFOLDED = "all"


@dataclass(frozen=True)
class CasePrediction:
    """One predicted case: where its detection map is, its likelihood, and the CV fold it was validated in."""

    case: str
    fold: str
    detection_map: Path
    likelihood: float


def variant_label(variant: str) -> str:
    """Display label of a variant folder (``maps`` → ``+maps``; unknown names unchanged)."""
    return VARIANT_LABELS.get(variant, variant)


def read_likelihood(path: Path) -> float:
    """The bare JSON float of a likelihood file.

    Raises:
        InvalidInputError: the file is missing, not JSON, or not a finite number in [0, 1].
    """
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise InvalidInputError(f"{path}: cannot read a likelihood ({error}).") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError(f"{path}: expected a bare JSON number, got {value!r}.")
    if not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"{path}: likelihood {value} is outside [0, 1].")
    return float(value)


def is_finished_case(case_dir: Path) -> bool:
    """Whether ``case_dir`` holds both outputs of a case (each written atomically, the likelihood last)."""
    return (case_dir / DETECTION_MAP_NAME).is_file() and (case_dir / LIKELIHOOD_NAME).is_file()


def read_case_folder(folder: Path, fold: str) -> list[CasePrediction]:
    """All finished cases under ``folder`` (one sub-folder per case), sorted by case id."""
    cases = []
    for case_dir in sorted(p for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith(".")):
        if is_finished_case(case_dir):
            cases.append(
                CasePrediction(
                    case_dir.name,
                    fold,
                    case_dir / DETECTION_MAP_NAME,
                    read_likelihood(case_dir / LIKELIHOOD_NAME),
                )
            )
    return cases


def _variant_order(name: str) -> tuple[int, str]:
    known = list(VARIANT_LABELS)
    return (known.index(name), "") if name in known else (len(known), name)


def discover_predictions(root: Path) -> dict[str, list[CasePrediction]]:
    """Variant folder name → its predicted cases (all folds), variants in display order.

    Raises:
        InvalidInputError: ``root`` is missing, holds no variant with predictions, or a case appears in two
            folds of one variant.
    """
    root = Path(root)
    if not root.is_dir():
        raise InvalidInputError(f"predictions folder not found: {root}.")
    found: dict[str, list[CasePrediction]] = {}
    for variant_dir in sorted(
        (p for p in root.iterdir() if p.is_dir()), key=lambda p: _variant_order(p.name)
    ):
        fold_dirs = sorted(p for p in variant_dir.glob("fold_*") if p.is_dir())
        if fold_dirs:
            cases = [c for d in fold_dirs for c in read_case_folder(d, d.name.removeprefix("fold_"))]
        else:
            cases = read_case_folder(variant_dir, UNFOLDED)
        if not cases:
            continue
        ids = [c.case for c in cases]
        duplicated = sorted({c for c in ids if ids.count(c) > 1})
        if duplicated:
            raise InvalidInputError(
                f"{variant_dir}: case(s) {', '.join(duplicated[:3])} appear in more than one fold."
            )
        found[variant_dir.name] = sorted(cases, key=lambda c: c.case)
    if not found:
        raise InvalidInputError(
            f"{root}: no predictions found; expected <variant>/fold_<k>/<case>/{DETECTION_MAP_NAME} and "
            f"{LIKELIHOOD_NAME} (variants: {', '.join(VARIANT_LABELS)})."
        )
    return found


def label_path(labels_dir: Path, case: str) -> Path:
    """``<labels_dir>/<case>.nii.gz`` (or ``.mha``), the PANORAMA label map of ``case``.

    Raises:
        InvalidInputError: neither file exists.
    """
    for suffix in (".nii.gz", ".mha"):
        path = Path(labels_dir) / f"{case}{suffix}"
        if path.is_file():
            return path
    raise InvalidInputError(f"no label for case {case} in {labels_dir} (expected {case}.nii.gz).")
