"""pdacrad.stats: bootstrap resampling and CIs, paired bootstrap and DeLong tests — against independent references
(DeLong's placement values by an explicit loop over every positive/negative pair, sklearn's AUROC, a bootstrap
variance), their behaviour (class counts per replicate, determinism per seed, coverage), and p-values that are
uniform under the null hypothesis (small simulations, seconds)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from pdacrad.stats import (
    auroc_replicates,
    bootstrap_ci,
    bootstrap_indices,
    case_indices,
    delong_covariance,
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


def _wisconsin() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    # sklearn codes benign as 1; the disease (malignant) is the positive class.
    return data.data, (1 - data.target).to_numpy()


def test_delong_agrees_with_sklearn_auc_and_bootstrap_variance() -> None:
    x, y = _wisconsin()
    a, b = x["mean radius"].to_numpy(), x["mean texture"].to_numpy()
    auc, cov = delong_covariance(y, a, b)
    assert auc == pytest.approx([roc_auc_score(y, a), roc_auc_score(y, b)], abs=1e-12)
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(400):
        i = rng.integers(0, len(y), len(y))
        boot.append(roc_auc_score(y[i], b[i]))
    assert cov[1, 1] == pytest.approx(np.var(boot), rel=0.3)
    test = delong_test(y, b, a)  # difference AUC_a − AUC_b
    assert test.difference == pytest.approx(auc[0] - auc[1]) and test.p_value < 1e-6
    same = delong_test(y, a, a)
    assert (same.difference, same.p_value) == (0.0, 1.0)
    assert delong_test(y, a, 2 * a + 1).p_value == 1.0  # same ranking, same AUC


def _exact_delong(labels: np.ndarray, *scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong et al. (1988) as written: ψ(x, y) = 1, ½, 0 for x >, =, < y over every (positive, negative) pair;
    V10_i = mean_j ψ(X_i, Y_j), V01_j = mean_i ψ(X_i, Y_j); S10, S01 their covariance matrices (ddof 1) across the
    score vectors; AUC = mean ψ; cov = S10 / m + S01 / n."""
    pos = [i for i in range(len(labels)) if labels[i] == 1]
    neg = [j for j in range(len(labels)) if labels[j] == 0]
    m, n, k = len(pos), len(neg), len(scores)
    v10, v01 = np.zeros((k, m)), np.zeros((k, n))
    for r, s in enumerate(scores):
        for a, i in enumerate(pos):
            for b, j in enumerate(neg):
                psi = 1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0
                v10[r, a] += psi / n
                v01[r, b] += psi / m
    auc = v10.mean(axis=1)
    s10 = [
        [sum((v10[p, a] - auc[p]) * (v10[q, a] - auc[q]) for a in range(m)) / (m - 1) for q in range(k)]
        for p in range(k)
    ]
    s01 = [
        [sum((v01[p, b] - auc[p]) * (v01[q, b] - auc[q]) for b in range(n)) / (n - 1) for q in range(k)]
        for p in range(k)
    ]
    return auc, np.array(s10) / m + np.array(s01) / n


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_delong_equals_the_exact_pairwise_computation_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat([0, 1], [23, 14]))
    reference = np.round(rng.normal(labels * 0.8, 1.0), 1)  # rounded: ties within and across classes
    variant = np.round(reference + rng.normal(labels * 0.5, 0.8), 1)
    auc, cov = delong_covariance(labels, reference, variant)
    want_auc, want_cov = _exact_delong(labels, reference, variant)
    np.testing.assert_allclose(auc, want_auc, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cov, want_cov, rtol=1e-10, atol=1e-15)
    variance = want_cov[0, 0] + want_cov[1, 1] - 2 * want_cov[0, 1]
    z = (want_auc[1] - want_auc[0]) / np.sqrt(variance)
    test = delong_test(labels, reference, variant)
    assert test.difference == pytest.approx(want_auc[1] - want_auc[0], abs=1e-12)
    assert test.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)


def test_stratified_and_case_indices_are_deterministic_per_seed() -> None:
    labels = np.array([1, 0, 0, 1, 0, 0, 0, 1, 0, 0])
    for draw in (
        lambda seed: bootstrap_indices(labels, 30, seed),
        lambda seed: case_indices(labels.size, 30, seed),
        lambda seed: case_indices(labels.size, 30, seed, labels=labels),
    ):
        np.testing.assert_array_equal(draw(7), draw(7))
        assert not np.array_equal(draw(7), draw(8))


def test_case_indices_are_sequential_draws_with_single_class_replicates_redrawn() -> None:
    """The scheme the radiomics statistics and the feature selection always used: one replicate after the other
    from one generator, a replicate with one class only thrown away (so AUROC is always defined)."""
    labels = np.array([0, 0, 0, 0, 0, 0, 1])  # one positive: many draws miss it
    rng = np.random.default_rng(3)
    want, plain = [], []
    while len(want) < 200:
        draw = rng.integers(0, labels.size, labels.size)
        if 0 < labels[draw].sum() < labels.size:
            want.append(draw)
    rng = np.random.default_rng(3)
    plain = [rng.integers(0, labels.size, labels.size) for _ in range(200)]
    np.testing.assert_array_equal(case_indices(labels.size, 200, seed=3, labels=labels), want)
    np.testing.assert_array_equal(case_indices(labels.size, 200, seed=3), plain)
    assert all(0 < labels[row].sum() < labels.size for row in case_indices(labels.size, 200, 3, labels))
    with pytest.raises(ValueError, match="both classes"):
        case_indices(4, 10, 0, labels=np.zeros(4))


@pytest.mark.parametrize("stratified", [True, False])
def test_bootstrap_ci_contains_the_estimate_of_all_cases(stratified: bool) -> None:
    rng = np.random.default_rng(5)
    labels = np.repeat([0, 1], [30, 20])
    scores = _scores(rng, labels, 1.0)
    indices = bootstrap_indices(labels, 300, 1) if stratified else case_indices(50, 300, 1, labels)
    ci = bootstrap_ci(lambda i: roc_auc_score(labels[i], scores[i]), indices)
    assert ci.estimate == roc_auc_score(labels, scores)
    assert ci.low < ci.estimate < ci.high and ci.n_bootstrap == 300 and ci.level == 0.95
    replicates = [roc_auc_score(labels[i], scores[i]) for i in indices]
    assert (ci.low, ci.high) == tuple(np.quantile(replicates, [(1 - 0.95) / 2, 1 - (1 - 0.95) / 2]))
