"""Discrimination of a model's out-of-fold scores with uncertainty: AUROC and average precision (scikit-learn's
``roc_auc_score``, ``average_precision_score``) with percentile-bootstrap 95% CIs over cases (:mod:`pdacrad.stats`:
whole cases resampled, a replicate with one class only redrawn). DeLong's test is :func:`pdacrad.stats.delong_test`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from pdacrad.stats import ConfidenceInterval


def metric_ci(
    metric: Callable[[np.ndarray, np.ndarray], float],
    y_true: np.ndarray,
    score: np.ndarray,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> ConfidenceInterval:
    """``metric(y_true, score)`` with a percentile bootstrap 95% CI over cases (resamples with one class only are
    redrawn, so the metric is always defined)."""
    import numpy as np

    from pdacrad.stats import bootstrap_ci, case_indices

    y_true, score = np.asarray(y_true), np.asarray(score)
    indices = case_indices(len(y_true), n_bootstrap, seed, labels=y_true)
    return bootstrap_ci(lambda i: metric(y_true[i], score[i]), indices)


def auroc(
    y_true: np.ndarray, score: np.ndarray, n_bootstrap: int = 1000, seed: int = 0
) -> ConfidenceInterval:
    """Area under the ROC curve (scikit-learn) with a bootstrap 95% CI."""
    from sklearn.metrics import roc_auc_score

    return metric_ci(roc_auc_score, y_true, score, n_bootstrap, seed)


def average_precision(
    y_true: np.ndarray, score: np.ndarray, n_bootstrap: int = 1000, seed: int = 0
) -> ConfidenceInterval:
    """Average precision (scikit-learn; area under the precision–recall curve) with a bootstrap 95% CI."""
    from sklearn.metrics import average_precision_score

    return metric_ci(average_precision_score, y_true, score, n_bootstrap, seed)
