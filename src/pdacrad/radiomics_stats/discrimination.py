"""Discrimination metrics with uncertainty: AUROC / average precision with percentile-bootstrap 95% CIs, and
DeLong's test for two correlated AUROCs.

AUROC and AP are scikit-learn's (``roc_auc_score``, ``average_precision_score``). DeLong's test has no
implementation in scikit-learn, scipy or statsmodels; :func:`delong_test` is the fast algorithm of Sun & Xu
(2014, IEEE SPL 21:1389) on mid-ranks from ``scipy.stats.rankdata``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% confidence interval ``[low, high]``."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap_ci(
    metric: Callable[[np.ndarray, np.ndarray], float],
    y_true: np.ndarray,
    score: np.ndarray,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> Estimate:
    """``metric(y_true, score)`` with a percentile bootstrap 95% CI over cases (resamples with one class only are
    redrawn, so the metric is always defined)."""
    import numpy as np

    y_true, score = np.asarray(y_true), np.asarray(score)
    rng = np.random.default_rng(seed)
    values: list[float] = []
    while len(values) < n_bootstrap:
        idx = rng.integers(0, len(y_true), len(y_true))
        if np.unique(y_true[idx]).size < 2:
            continue
        values.append(metric(y_true[idx], score[idx]))
    low, high = np.percentile(values, [2.5, 97.5])
    return Estimate(float(metric(y_true, score)), float(low), float(high))


def auroc(y_true: np.ndarray, score: np.ndarray, n_bootstrap: int = 1000, seed: int = 0) -> Estimate:
    """Area under the ROC curve (scikit-learn) with a bootstrap 95% CI."""
    from sklearn.metrics import roc_auc_score

    return bootstrap_ci(roc_auc_score, y_true, score, n_bootstrap, seed)


def average_precision(
    y_true: np.ndarray, score: np.ndarray, n_bootstrap: int = 1000, seed: int = 0
) -> Estimate:
    """Average precision (scikit-learn; area under the precision–recall curve) with a bootstrap 95% CI."""
    from sklearn.metrics import average_precision_score

    return bootstrap_ci(average_precision_score, y_true, score, n_bootstrap, seed)


def _structural_components(positives: np.ndarray, negatives: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-predictor AUC and DeLong's placement values V10 (positives) and V01 (negatives); arrays (k, m|n)."""
    import numpy as np
    from scipy.stats import rankdata

    m, n = positives.shape[1], negatives.shape[1]
    both = np.concatenate([positives, negatives], axis=1)
    rank_all = rankdata(both, axis=1)
    rank_pos, rank_neg = rankdata(positives, axis=1), rankdata(negatives, axis=1)
    auc = (rank_all[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v10 = (rank_all[:, :m] - rank_pos) / n
    v01 = 1.0 - (rank_all[:, m:] - rank_neg) / m
    return auc, v10, v01


def delong_covariance(y_true: np.ndarray, *scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUROCs of each score and their DeLong covariance matrix (k × k), for scores on the same cases."""
    import numpy as np

    y = np.asarray(y_true).astype(bool)
    stacked = np.vstack([np.asarray(s, dtype=np.float64) for s in scores])
    auc, v10, v01 = _structural_components(stacked[:, y], stacked[:, ~y])
    cov = np.atleast_2d(np.cov(v10)) / y.sum() + np.atleast_2d(np.cov(v01)) / (~y).sum()
    return auc, cov


def delong_test(y_true: np.ndarray, score_a: np.ndarray, score_b: np.ndarray) -> tuple[float, float]:
    """DeLong's two-sided test of equal AUROC for two scores of the same cases: returns (AUC_a − AUC_b, p)."""
    import numpy as np
    from scipy.stats import norm

    auc, cov = delong_covariance(y_true, score_a, score_b)
    difference = float(auc[0] - auc[1])
    variance = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    if variance <= 0:  # identical rankings: no evidence of a difference
        return difference, 1.0
    return difference, float(2 * norm.sf(abs(difference) / np.sqrt(variance)))
