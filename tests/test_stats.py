"""Bootstrap CIs, paired bootstrap and DeLong tests: agreement with sklearn, coverage behaviour, and p-values that
are uniform under the null hypothesis (small simulations, seconds)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from pdacrad.stats import (
    auroc_replicates,
    bootstrap_indices,
    delong_test,
    paired_bootstrap_test,
    percentile_interval,
)


def _scores(rng: np.random.Generator, labels: np.ndarray, shift: float) -> np.ndarray:
    return rng.normal(labels * shift, 1.0)


def test_bootstrap_indices_keep_class_counts() -> None:
    labels = np.array([1, 0, 0, 1, 0, 0, 0, 1])
    idx = bootstrap_indices(labels, 50, seed=1)
    assert idx.shape == (50, 8)
    assert np.all(labels[idx].sum(axis=1) == 3)
    assert not np.array_equal(idx[0], idx[1])


def test_auroc_replicates_equal_sklearn_with_ties() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 40)
    scores = np.round(rng.random(40), 1)  # many ties
    idx = bootstrap_indices(labels, 20, seed=3)
    got = auroc_replicates(labels, scores, idx)
    want = [roc_auc_score(labels[row], scores[row]) for row in idx]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_delong_auc_difference_and_significance() -> None:
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], 60)
    weak, strong = _scores(rng, labels, 0.3), _scores(rng, labels, 2.0)
    test = delong_test(labels, weak, strong)
    assert test.difference == pytest.approx(roc_auc_score(labels, strong) - roc_auc_score(labels, weak))
    assert test.p_value < 1e-4
    assert delong_test(labels, strong, strong).p_value == 1.0
    with pytest.raises(ValueError, match="both positive and negative"):
        delong_test(np.ones(5), weak[:5], strong[:5])


def test_delong_p_values_uniform_under_null() -> None:
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1], 25)
    p = []
    for _ in range(400):
        common = _scores(rng, labels, 1.0)  # correlated models of equal skill
        a, b = common + rng.normal(0, 0.7, 50), common + rng.normal(0, 0.7, 50)
        p.append(delong_test(labels, a, b).p_value)
    p = np.array(p)
    assert stats.kstest(p, "uniform").pvalue > 0.01
    assert 0.02 <= np.mean(p < 0.05) <= 0.09


def test_paired_bootstrap_p_values_uniform_under_null() -> None:
    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1], 30)
    everything = np.arange(60)[None]
    p = []
    for sim in range(200):
        common = _scores(rng, labels, 1.0)
        a, b = common + rng.normal(0, 0.7, 60), common + rng.normal(0, 0.7, 60)
        idx = bootstrap_indices(labels, 199, seed=sim)
        test = paired_bootstrap_test(
            "AUROC",
            lambda i, s=a: auroc_replicates(labels, s, i),
            lambda i, s=b: auroc_replicates(labels, s, i),
            idx,
            everything,
        )
        p.append(test.p_value)
    p = np.array(p)
    assert stats.kstest(p, "uniform").pvalue > 0.01
    assert 0.01 <= np.mean(p < 0.05) <= 0.10


def test_paired_bootstrap_detects_a_real_difference() -> None:
    rng = np.random.default_rng(4)
    labels = np.repeat([0, 1], 50)
    weak, strong = _scores(rng, labels, 0.2), _scores(rng, labels, 2.0)
    idx = bootstrap_indices(labels, 500, seed=0)
    test = paired_bootstrap_test(
        "AUROC",
        lambda i: auroc_replicates(labels, weak, i),
        lambda i: auroc_replicates(labels, strong, i),
        idx,
        np.arange(100)[None],
    )
    assert test.difference > 0.3 and test.p_value < 0.01


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ci_contains_estimate_and_shrinks_with_more_cases(seed: int) -> None:
    rng = np.random.default_rng(seed)
    widths = []
    for n in (40, 400):
        labels = np.repeat([0, 1], n // 2)
        scores = _scores(rng, labels, 1.0)
        estimate = roc_auc_score(labels, scores)
        ci = percentile_interval(
            estimate, auroc_replicates(labels, scores, bootstrap_indices(labels, 500, seed))
        )
        assert ci.low <= estimate <= ci.high
        widths.append(ci.high - ci.low)
    # the width scales like 1/sqrt(n): ~3.2× narrower with 10× the cases
    assert widths[1] < 0.5 * widths[0]
