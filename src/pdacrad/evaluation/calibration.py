"""Calibration of the case-level likelihood: the Brier score with a bootstrap CI, and the reliability curve
(observed share of PDAC cases against the mean likelihood in equal-width bins of the likelihood); and the same
before and after a cross-fitted Platt calibration (:func:`cross_fit_calibration`; the map itself is
:mod:`pdacrad.model.calibration`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

from pdacrad.evaluation.metrics import CaseArrays
from pdacrad.evaluation.study import EvaluationResult, VariantResult
from pdacrad.io.predictions import variant_label
from pdacrad.model.calibration import LikelihoodCalibration, cross_fit, fit_platt
from pdacrad.stats import (
    ConfidenceInterval,
    auroc_replicates,
    bootstrap_indices,
    percentile_interval,
)

RELIABILITY_BINS = 5
"""Equal-width likelihood bins of the reliability curve (few cases per bin in small cohorts: keep it coarse)."""


@dataclass(frozen=True)
class ReliabilityBin:
    """Cases whose likelihood fell in ``[low, high)`` (the last bin includes 1): how many, their mean likelihood
    and the share of them with PDAC."""

    low: float
    high: float
    n_cases: int
    mean_likelihood: float
    observed_rate: float


@dataclass(frozen=True)
class Calibration:
    """One variant: Brier score (mean squared error of the likelihood against 0/1 PDAC; lower is better, 0.25 is
    a constant 0.5) with its CI, and the reliability curve."""

    variant: str
    brier: ConfidenceInterval
    bins: tuple[ReliabilityBin, ...]


def brier_replicates(labels: np.ndarray, scores: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Brier score on each row of case ``indices`` (``(B, n)``; ``arange(n)[None]`` for the point value)."""
    y = np.asarray(labels, dtype=np.float64)[indices]
    s = np.asarray(scores, dtype=np.float64)[indices]
    return np.mean((s - y) ** 2, axis=1)


def reliability_bins(
    labels: np.ndarray, scores: np.ndarray, n_bins: int = RELIABILITY_BINS
) -> list[ReliabilityBin]:
    """The reliability curve of ``scores`` in ``n_bins`` equal-width bins of [0, 1]; empty bins left out."""
    y = np.asarray(labels, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(s, edges[1:-1], right=False), 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        members = which == b
        if members.any():
            out.append(
                ReliabilityBin(
                    float(edges[b]),
                    float(edges[b + 1]),
                    int(members.sum()),
                    float(s[members].mean()),
                    float(y[members].mean()),
                )
            )
    return out


def calibrate(v: VariantResult, result: EvaluationResult) -> Calibration:
    """Brier score (bootstrap stratified by label, the evaluation's replicates and seed) and reliability curve
    of one variant's pooled likelihoods."""
    cases = CaseArrays.from_metrics(v.metrics)
    cfg = result.config
    indices = bootstrap_indices(cases.labels, cfg.n_bootstrap, cfg.seed)
    point = float(brier_replicates(cases.labels, cases.scores, np.arange(cases.labels.size)[None])[0])
    brier = percentile_interval(point, brier_replicates(cases.labels, cases.scores, indices), cfg.level)
    return Calibration(v.variant, brier, tuple(reliability_bins(cases.labels, cases.scores)))


def calibration_table(calibrations: Sequence[Calibration]) -> pd.DataFrame:
    """One row per variant and reliability bin: the Brier score and CI repeated, then the bin."""
    rows = [
        {
            "variant": c.variant,
            "label": variant_label(c.variant),
            "Brier": c.brier.estimate,
            "Brier_low": c.brier.low,
            "Brier_high": c.brier.high,
            "bin_low": b.low,
            "bin_high": b.high,
            "n_cases": b.n_cases,
            "mean_likelihood": b.mean_likelihood,
            "observed_rate": b.observed_rate,
        }
        for c in calibrations
        for b in c.bins
    ]
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class CrossFitCalibration:
    """One variant's likelihoods before and after cross-fitted calibration (:func:`pdacrad.model.calibration.cross_fit`:
    each fold mapped by a Platt map fitted on the other folds), and the pooled map fitted on every case (the one a
    model export ships).

    Attributes:
        raw, cross_fitted: Brier score with CI and reliability curve of the raw and the cross-fitted likelihoods.
        brier_change: Brier(cross-fitted) − Brier(raw) with its paired-bootstrap CI (same resampled cases).
        auroc_raw, auroc_cross_fitted: pooled AUROC over all folds (may differ: each fold has its own map).
        fold_auroc_change: largest |AUROC change| within one fold (0 up to rounding: the maps are increasing).
        pooled_map: the map fitted on all cases.
        fold_maps: fold id → the map applied to that fold.
        cross_fitted_scores: the calibrated likelihood of each case, in the input's case order.
    """

    raw: Calibration
    cross_fitted: Calibration
    brier_change: ConfidenceInterval
    auroc_raw: float
    auroc_cross_fitted: float
    fold_auroc_change: float
    pooled_map: LikelihoodCalibration
    fold_maps: Mapping[str, LikelihoodCalibration]
    cross_fitted_scores: np.ndarray


def cross_fit_calibration(
    variant: str,
    labels: np.ndarray,
    scores: np.ndarray,
    folds: Sequence[str],
    n_bootstrap: int,
    seed: int = 0,
    level: float = 0.95,
    fitted_on: str = "",
) -> CrossFitCalibration:
    """Cross-fit, then score raw and calibrated likelihoods on the same stratified bootstrap replicates.

    Args:
        labels: 0/1 PDAC per case, shape ``(n,)``; scores: raw likelihoods in [0, 1]; folds: each case's fold.
        fitted_on: provenance written into the pooled map.
    """
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    fold_ids = np.asarray(folds).astype(str)
    calibrated, fold_maps = cross_fit(scores, labels, fold_ids)
    indices = bootstrap_indices(labels, n_bootstrap, seed)
    everything = np.arange(labels.size)[None]

    def brier(s: np.ndarray, stage: str) -> tuple[Calibration, np.ndarray]:
        point = float(brier_replicates(labels, s, everything)[0])
        replicates = brier_replicates(labels, s, indices)
        ci = percentile_interval(point, replicates, level)
        return Calibration(f"{variant} {stage}", ci, tuple(reliability_bins(labels, s))), replicates

    raw, raw_reps = brier(scores, "raw")
    crossed, crossed_reps = brier(calibrated, "cross-fitted")
    change = percentile_interval(crossed.brier.estimate - raw.brier.estimate, crossed_reps - raw_reps, level)
    fold_changes = [
        abs(_auroc(labels[m], calibrated[m]) - _auroc(labels[m], scores[m]))
        for m in (fold_ids == name for name in sorted(fold_maps))
        if np.unique(labels[m]).size == 2  # a one-class fold has no AUROC
    ]
    return CrossFitCalibration(
        raw=raw,
        cross_fitted=crossed,
        brier_change=change,
        auroc_raw=_auroc(labels, scores),
        auroc_cross_fitted=_auroc(labels, calibrated),
        fold_auroc_change=max(fold_changes, default=0.0),
        pooled_map=fit_platt(scores, labels, fitted_on),
        fold_maps=MappingProxyType(dict(fold_maps)),
        cross_fitted_scores=calibrated,
    )


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(auroc_replicates(labels, scores, np.arange(labels.size)[None])[0])
