"""Calibration of the case-level likelihood: the Brier score with a bootstrap CI, and the reliability curve
(observed share of PDAC cases against the mean likelihood in equal-width bins of the likelihood)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pdacrad.evaluation.metrics import CaseArrays
from pdacrad.evaluation.study import EvaluationResult, VariantResult
from pdacrad.io.predictions import variant_label
from pdacrad.stats import ConfidenceInterval, bootstrap_indices, percentile_interval

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
