"""Synthetic detection maps with known answers: small label maps with one cubic lesion per positive case, and
detection maps whose candidates sit on the lesion (true positive) or away from it (false positive)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

SHAPE_ZYX = (8, 24, 24)
LESION = (slice(2, 6), slice(4, 10), slice(4, 10))
ELSEWHERE = (slice(2, 6), slice(14, 20), slice(14, 20))


@dataclass(frozen=True)
class SyntheticCase:
    """One case: label map (1 = PDAC, 4 = pancreas), detection map, likelihood (= max of the map)."""

    case: str
    label: np.ndarray
    detection: np.ndarray

    @property
    def likelihood(self) -> float:
        return float(self.detection.max())


def make_cases(n: int, separation: float, seed: int, prefix: str = "case") -> list[SyntheticCase]:
    """``n`` cases, half positive; each has one candidate whose confidence is drawn from N(0.5 ± separation/2,
    0.15) clipped to [0.01, 0.99]. Positives put it on the lesion with probability 0.8 (a miss puts it
    elsewhere); negatives put it elsewhere with probability 0.7 (otherwise an empty map)."""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        positive = i % 2 == 0
        label = np.zeros(SHAPE_ZYX, np.uint8)
        label[1:7, 2:22, 2:22] = 4
        detection = np.zeros(SHAPE_ZYX, np.float32)
        conf = float(
            np.clip(rng.normal(0.5 + (separation / 2 if positive else -separation / 2), 0.15), 0.01, 0.99)
        )
        if positive:
            label[LESION] = 1
            detection[LESION if rng.random() < 0.8 else ELSEWHERE] = conf
        elif rng.random() < 0.7:
            detection[ELSEWHERE] = conf
        cases.append(SyntheticCase(f"{prefix}_{i:03d}", label, detection))
    return cases


def write_case_outputs(folder: Path, case: SyntheticCase, likelihood: float | None = None) -> None:
    """``<folder>/<case>/detection_map.mha`` and ``likelihood.json`` (the predict-cohort layout)."""
    out = folder / case.case
    out.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(case.detection), str(out / "detection_map.mha"))
    value = case.likelihood if likelihood is None else likelihood
    (out / "likelihood.json").write_text(json.dumps(value))


def write_labels(labels_dir: Path, cases: list[SyntheticCase]) -> None:
    labels_dir.mkdir(parents=True, exist_ok=True)
    for c in cases:
        sitk.WriteImage(sitk.GetImageFromArray(c.label), str(labels_dir / f"{c.case}.nii.gz"))


@dataclass(frozen=True)
class CvPredictions:
    """A cross-validation predictions tree on disk and the cases behind it."""

    root: Path
    labels_dir: Path
    variants: dict[str, list[SyntheticCase]]
    folds: dict[str, int]


def write_cv_predictions(
    tmp: Path, n: int = 24, n_folds: int = 2, separations: dict[str, float] | None = None
) -> CvPredictions:
    """``<tmp>/predictions/<variant>/fold_<k>/<case>/…`` for each variant (same label maps, per-variant
    detection maps from its own seed and separation) and ``<tmp>/labels``."""
    separations = separations or {"base": 0.1, "maps": 0.3}
    root = tmp / "predictions"
    folds: dict[str, int] = {}
    variants = {}
    for k, (variant, sep) in enumerate(separations.items()):
        cases = make_cases(n, sep, seed=100 + k)
        variants[variant] = cases
        for i, case in enumerate(cases):
            folds[case.case] = (i // 2) % n_folds  # pairs (positive, negative) per fold: both classes in each
            write_case_outputs(root / variant / f"fold_{folds[case.case]}", case)
    write_labels(tmp / "labels", next(iter(variants.values())))
    return CvPredictions(root, tmp / "labels", variants, folds)


@pytest.fixture
def cv_predictions(tmp_path: Path) -> CvPredictions:
    return write_cv_predictions(tmp_path)
