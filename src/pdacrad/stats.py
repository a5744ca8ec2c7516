"""The statistics of case-level scores, one module for the whole tree (numpy and scipy only): bootstrap resampling of
cases, percentile-bootstrap confidence intervals, the paired bootstrap test, and DeLong's covariance and test for
correlated AUROCs.

Callers: :mod:`pdacrad.evaluation` (the ablation table: stratified bootstrap, paired tests, DeLong),
:mod:`pdacrad.radiomics_stats` (model comparison and survival C-index CIs, DeLong) and the training tree's feature
selection (``pdacrad-train select``: AUROC / AP CIs).

Three resampling schemes, each a ``(B, n)`` matrix of case indices, so that a *paired* comparison resamples the same
cases for both models:

* :func:`bootstrap_indices` — stratified: resampled within each class, every replicate keeps the cohort's numbers
  of positive and negative cases (the evaluation's);
* :func:`case_indices` — whole cases, ``n`` draws with replacement per replicate; with ``labels``, a replicate that
  holds one class only is redrawn so that AUROC / AP are defined (the radiomics statistics' and the feature
  selection's; without labels, the survival C-index's).

All functions work on case-aligned arrays (one entry per case, the same case order for every model).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

MetricFn = Callable[[np.ndarray], np.ndarray]
"""Metric over bootstrap replicates: takes a ``(B, n)`` matrix of case indices and returns ``B`` values."""


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with its percentile-bootstrap interval (``level`` e.g. 0.95)."""

    estimate: float
    low: float
    high: float
    level: float
    n_bootstrap: int

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class PairedTest:
    """Difference ``variant − reference`` of one metric on the same cases, and its two-sided p-value."""

    metric: str
    method: str
    difference: float
    p_value: float


def bootstrap_indices(labels: np.ndarray, n_bootstrap: int, seed: int | None = None) -> np.ndarray:
    """``(n_bootstrap, n)`` case indices resampled with replacement *within* each class (stratified), so that
    every replicate keeps the cohort's numbers of positive and negative cases and AUROC is always defined.

    Args:
        labels: case labels 0/1, shape ``(n,)``.
    """
    labels = np.asarray(labels).astype(bool)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    rng = np.random.default_rng(seed)
    out = np.empty((n_bootstrap, labels.size), dtype=np.intp)
    column = 0
    for members in (np.flatnonzero(labels), np.flatnonzero(~labels)):
        if members.size:
            draws = rng.integers(0, members.size, size=(n_bootstrap, members.size))
            out[:, column : column + members.size] = members[draws]
            column += members.size
    return out


def case_indices(
    n_cases: int, n_bootstrap: int, seed: int | None = None, labels: np.ndarray | None = None
) -> np.ndarray:
    """``(n_bootstrap, n_cases)`` case indices, each replicate ``n_cases`` draws with replacement from all cases.

    Replicates are drawn one after the other from one generator (``rng.integers(0, n_cases, n_cases)`` each), so a
    seed gives the same replicates whatever ``n_bootstrap`` follows. With ``labels`` (shape ``(n_cases,)``), a
    replicate whose cases all share one label is discarded and drawn again.
    """
    rng = np.random.default_rng(seed)
    labels = None if labels is None else np.asarray(labels)
    if labels is not None and (labels.shape != (n_cases,) or np.unique(labels).size < 2):
        raise ValueError(f"labels must hold both classes and have shape ({n_cases},), got {labels!r}")
    out = np.empty((n_bootstrap, n_cases), dtype=np.intp)
    row = 0
    while row < n_bootstrap:
        draw = rng.integers(0, n_cases, n_cases)
        if labels is not None and np.all(labels[draw] == labels[draw[0]]):
            continue
        out[row] = draw
        row += 1
    return out


def auroc_replicates(labels: np.ndarray, scores: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """AUROC of each bootstrap replicate, vectorised: the Mann–Whitney statistic with ties counted as ½,
    which equals the trapezoidal area under sklearn's (and so picai_eval's) ROC curve.

    Args:
        labels: case labels 0/1, shape ``(n,)``.
        scores: case-level scores, shape ``(n,)``.
        indices: ``(B, n)`` case indices (rows from :func:`bootstrap_indices`, or ``arange(n)[None]``).

    Returns:
        ``(B,)`` AUROCs; NaN for a replicate without both classes.
    """
    y = np.asarray(labels).astype(bool)[indices]
    s = np.asarray(scores, dtype=np.float64)[indices]
    ranks = stats.rankdata(s, axis=1)  # average ranks: ties count ½
    n_pos = y.sum(axis=1)
    n_neg = y.shape[1] - n_pos
    rank_sum = np.where(y, ranks, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def percentile_interval(estimate: float, replicates: np.ndarray, level: float = 0.95) -> ConfidenceInterval:
    """Percentile-bootstrap interval of ``replicates`` (NaN replicates ignored) around ``estimate``."""
    values = np.asarray(replicates, dtype=np.float64)
    values = values[np.isfinite(values)]
    alpha = (1.0 - level) / 2.0
    if values.size == 0:
        return ConfidenceInterval(estimate, float("nan"), float("nan"), level, 0)
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return ConfidenceInterval(float(estimate), float(low), float(high), level, int(values.size))


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float], indices: np.ndarray, level: float = 0.95
) -> ConfidenceInterval:
    """``statistic`` of all cases with its percentile-bootstrap interval over the replicates ``indices``.

    Args:
        statistic: the statistic of the cases at the given indices (e.g.
            ``lambda i: roc_auc_score(y[i], score[i])``).
        indices: ``(B, n)`` case indices (:func:`bootstrap_indices` or :func:`case_indices`); the estimate is the
            statistic of ``arange(n)``.
    """
    indices = np.asarray(indices)
    replicates = [statistic(row) for row in indices]
    return percentile_interval(statistic(np.arange(indices.shape[1])), np.asarray(replicates), level)


def paired_bootstrap_test(
    metric: str,
    reference: MetricFn,
    variant: MetricFn,
    indices: np.ndarray,
    all_cases: np.ndarray,
) -> PairedTest:
    """Two-sided paired bootstrap test of ``variant − reference`` on the same resampled cases.

    The bootstrap distribution of the difference, shifted to mean zero, stands in for its null distribution
    (Hall & Wilson 1991): ``p = (1 + #{|δ*_b − δ| ≥ |δ|}) / (1 + B)``, where ``δ`` is the observed difference
    on ``all_cases`` and ``δ*_b`` its value on replicate ``b``.

    Args:
        metric: name stored in the result (e.g. ``"AUROC"``).
        reference, variant: metric of each model evaluated on rows of case indices.
        indices: ``(B, n)`` bootstrap indices shared by both models.
        all_cases: ``(1, n)`` indices of the full cohort (usually ``arange(n)[None]``).
    """
    observed = float(variant(all_cases)[0] - reference(all_cases)[0])
    return paired_bootstrap_from_replicates(metric, observed, variant(indices) - reference(indices))


def paired_bootstrap_from_replicates(metric: str, observed: float, deltas: np.ndarray) -> PairedTest:
    """:func:`paired_bootstrap_test` from an observed difference and its ``(B,)`` bootstrap replicates (computed
    on shared case indices), for callers that already hold each model's replicates."""
    deltas = np.asarray(deltas, dtype=np.float64)
    deltas = deltas[np.isfinite(deltas)]
    extreme = np.count_nonzero(np.abs(deltas - observed) >= abs(observed) - 1e-12)
    p_value = (1.0 + extreme) / (1.0 + deltas.size)
    return PairedTest(
        metric, f"paired bootstrap (B={deltas.size})", float(observed), float(min(p_value, 1.0))
    )


def delong_covariance(labels: np.ndarray, *scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUROC of each score vector and their DeLong covariance matrix, for scores of the same cases (DeLong, DeLong
    & Clarke-Pearson 1988, in the fast mid-rank form of Sun & Xu 2014, IEEE SPL 21:1389).

    The AUROC is the Mann–Whitney statistic (ties count ½). Its structural components are the placement values
    ``V10_i`` (per positive case: the share of negatives it outranks) and ``V01_j`` (per negative case: the share of
    positives that outrank it), and ``cov = S10 / m + S01 / n`` with ``S10``, ``S01`` their sample covariances
    across scores, ``m`` and ``n`` the numbers of positives and negatives.

    Args:
        labels: case labels 0/1, shape ``(n_cases,)``; both classes required.
        scores: ``k`` score vectors, each shape ``(n_cases,)``.

    Returns:
        ``(aucs (k,), covariance (k, k))``.
    """
    y = np.asarray(labels).astype(bool)
    if y.all() or not y.any():
        raise ValueError("DeLong's test needs both positive and negative cases")
    stacked = np.stack([np.asarray(s, np.float64) for s in scores])
    pos, neg = stacked[:, y], stacked[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    rank_all = stats.rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    rank_pos, rank_neg = stats.rankdata(pos, axis=1), stats.rankdata(neg, axis=1)
    aucs = (rank_all[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (rank_all[:, :m] - rank_pos) / n  # per positive case: share of negatives it outranks
    v01 = 1.0 - (rank_all[:, m:] - rank_neg) / m  # per negative case: share of positives outranking it
    return aucs, np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n


def delong_test(labels: np.ndarray, reference: np.ndarray, variant: np.ndarray) -> PairedTest:
    """DeLong's test for two correlated AUROCs on the same cases (:func:`delong_covariance`):
    ``z = (AUC_v − AUC_r) / sd`` referred to the standard normal.

    Args:
        labels: case labels 0/1, shape ``(n,)``; both classes required.
        reference, variant: case-level scores of the two models, shape ``(n,)``.

    Returns:
        difference ``AUC_variant − AUC_reference`` and the two-sided p-value (1.0 when the variance is 0,
        e.g. identical score rankings).
    """
    aucs, cov = delong_covariance(labels, reference, variant)
    contrast = np.array([-1.0, 1.0])
    variance = float(contrast @ cov @ contrast)
    difference = float(aucs[1] - aucs[0])
    if variance <= 1e-15:
        return PairedTest("AUROC", "DeLong", difference, 1.0)
    z = difference / np.sqrt(variance)
    return PairedTest("AUROC", "DeLong", difference, float(2.0 * stats.norm.sf(abs(z))))
