"""PI-CAI / PANORAMA detection metrics with ``picai_eval``: lesion matching, AUROC, AP, score = (AUROC + AP) / 2
and FROC, per fold and pooled; bootstrap replicates of the same metrics on resampled cases.

The case-level score is the submitted likelihood (``likelihood.json``), as in the PANORAMA evaluation; when it
is the maximum of the detection map (our pipeline's definition) this equals picai_eval's default.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

# picai_eval prints a banner on import; keep stdout for the commands' own output
with contextlib.redirect_stdout(io.StringIO()):
    from picai_eval import Metrics, evaluate

from pdacrad.stats import auroc_replicates


def case_targets(metrics: Metrics) -> dict[Any, int]:
    """Case id → 0/1 PDAC present (picai_eval fills it in ``__post_init__``; typed optional there)."""
    return cast(dict[Any, int], metrics.case_target)


def case_scores(metrics: Metrics) -> dict[Any, float]:
    """Case id → case-level score (the likelihood)."""
    return cast(dict[Any, float], metrics.case_pred)


FROC_FP_PER_CASE: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
"""False positives per case at which the FROC's lesion-level sensitivity is tabulated."""


@dataclass(frozen=True)
class DetectionScores:
    """Detection performance of one model on one set of cases.

    Attributes:
        n_cases, n_positive: cases evaluated, and those with PDAC.
        auroc: case-level area under the ROC curve (likelihood vs PDAC present).
        ap: lesion-level average precision (picai_eval).
        score: PI-CAI / PANORAMA ranking score ``(auroc + ap) / 2``.
        froc: ``(FP per case, lesion sensitivity)`` at :data:`FROC_FP_PER_CASE`.
    """

    n_cases: int
    n_positive: int
    auroc: float
    ap: float
    score: float
    froc: tuple[tuple[float, float], ...]

    @classmethod
    def from_metrics(
        cls, metrics: Metrics, fp_per_case: Sequence[float] = FROC_FP_PER_CASE
    ) -> DetectionScores:
        """Read the numbers off a picai_eval ``Metrics`` object."""
        auroc, ap = float(metrics.auroc), float(metrics.AP)
        return cls(
            n_cases=int(metrics.num_cases),
            n_positive=int(sum(case_targets(metrics).values())),
            auroc=auroc,
            ap=ap,
            score=(auroc + ap) / 2.0,
            froc=tuple((float(f), float(metrics.lesion_TPR_at_FPR(f))) for f in fp_per_case),
        )


def _binary_lesions(lesion_label: int):  # type: ignore[no-untyped-def]
    def binarise(label: np.ndarray) -> np.ndarray:
        return (np.asarray(label) == lesion_label).astype(np.int32)

    return binarise


def evaluate_cases(
    detection_maps: Sequence[Path | np.ndarray],
    labels: Sequence[Path | np.ndarray],
    subjects: Sequence[str],
    likelihoods: Sequence[float] | None = None,
    *,
    lesion_label: int = 1,
    num_parallel_calls: int = 1,
) -> Metrics:
    """Match lesion candidates to ground-truth lesions with ``picai_eval.evaluate`` (its defaults: IoU ≥ 0.1)
    and return its ``Metrics``.

    Args:
        detection_maps: per case a detection map (array or ``.mha``/``.nii.gz`` path), each candidate lesion
            filled with its confidence, 0 elsewhere.
        labels: per case a label map of the same shape; voxels equal to ``lesion_label`` are lesion.
        subjects: case ids, in the same order.
        likelihoods: per case the submitted case-level score; ``None`` keeps picai_eval's (max of the map).
        num_parallel_calls: picai_eval's threads (1 = sequential; CPU-friendly on shared machines).
    """
    if not len(detection_maps) == len(labels) == len(subjects):
        raise ValueError("detection_maps, labels and subjects must have the same length")
    metrics = evaluate(
        y_det=list(detection_maps),
        y_true=list(labels),
        subject_list=list(subjects),
        y_true_postprocess_func=_binary_lesions(lesion_label),
        num_parallel_calls=num_parallel_calls,
    )
    if likelihoods is None:
        return metrics
    if len(likelihoods) != len(subjects):
        raise ValueError("likelihoods must have one value per subject")
    return Metrics(
        lesion_results=metrics.lesion_results,
        case_target=metrics.case_target,
        case_pred={s: float(p) for s, p in zip(subjects, likelihoods, strict=True)},
        case_weight=metrics.case_weight,
        lesion_weight=metrics.lesion_weight,
    )


def subset(metrics: Metrics, subjects: Sequence[str]) -> Metrics:
    """The ``Metrics`` of a subset of cases (e.g. one fold of a pooled evaluation), without re-matching."""
    keep = list(subjects)
    fields = ("lesion_results", "case_target", "case_pred", "case_weight", "lesion_weight")
    tables = {name: cast(dict[Any, Any], getattr(metrics, name)) for name in fields}
    kwargs: dict[str, Any] = {name: {s: table[s] for s in keep} for name, table in tables.items()}
    return Metrics(**kwargs)


@dataclass(frozen=True)
class CaseArrays:
    """A ``Metrics`` object's cases as aligned arrays (``subjects`` order), for resampling by index."""

    subjects: tuple[str, ...]
    labels: np.ndarray
    scores: np.ndarray

    @classmethod
    def from_metrics(cls, metrics: Metrics, subjects: Sequence[str] | None = None) -> CaseArrays:
        order = tuple(subjects if subjects is not None else cast(list[str], metrics.subject_list))
        targets, scores = case_targets(metrics), case_scores(metrics)
        return cls(
            order,
            np.array([int(targets[s]) for s in order]),
            np.array([float(scores[s]) for s in order]),
        )


def metric_replicates(metrics: Metrics, cases: CaseArrays, name: str, indices: np.ndarray) -> np.ndarray:
    """``name`` (``"AUROC"``, ``"AP"`` or ``"score"``) on each row of case indices into ``cases.subjects``.

    AUROC is vectorised (Mann–Whitney; equal to picai_eval's ``calc_auroc`` on the same cases); AP is
    picai_eval's ``calc_AP`` on each resampled subject list (duplicates count twice, as in its own bootstrap).
    """
    if name == "AUROC":
        return auroc_replicates(cases.labels, cases.scores, indices)
    subjects = np.asarray(cases.subjects, dtype=object)
    ap = np.array([float(metrics.calc_AP(subject_list=list(subjects[row]))) for row in indices])
    if name == "AP":
        return ap
    if name == "score":
        return (auroc_replicates(cases.labels, cases.scores, indices) + ap) / 2.0
    raise ValueError(f"unknown metric {name!r}; expected AUROC, AP or score")
