"""Survival on scikit-survival's GBSG2 breast-cancer cohort (686 patients, recurrence-free survival in days)."""

from __future__ import annotations

import numpy as np
import pytest
from sksurv.column import encode_categorical
from sksurv.compare import compare_survival
from sksurv.datasets import load_gbsg2
from sksurv.metrics import concordance_index_censored

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics_stats.survival import SurvivalConfig, event_time, survival_analysis, survival_array


@pytest.fixture(scope="module")
def gbsg2():  # type: ignore[no-untyped-def]
    x, y = load_gbsg2()
    config = SurvivalConfig(n_estimators=60, n_bootstrap=200)
    return x, y, survival_analysis(encode_categorical(x), y, config)


def test_gbsg2_c_index_matches_published_magnitude_and_direct_sksurv(gbsg2) -> None:  # type: ignore[no-untyped-def]
    _, _, result = gbsg2
    table = result.table().set_index("model")
    # Published GBSG2 C-indices for Cox / RSF on held-out cases are ≈ 0.65–0.70.
    assert table["c_index"].between(0.63, 0.75).all()
    assert (table["c_index_ci_low"] < table["c_index"]).all() and (
        table["c_index"] < table["c_index_ci_high"]
    ).all()
    event, time = event_time(result.y_test)
    for r in result.results:
        direct = concordance_index_censored(event, time, r.test_risk)[0]
        assert r.c_index.estimate == pytest.approx(direct, abs=1e-12)
        assert all(0.6 < v < 0.9 for v in r.time_auc.values()), r.time_auc


def test_training_median_risk_groups_separate_survival(gbsg2) -> None:  # type: ignore[no-untyped-def]
    _, _, result = gbsg2
    for r in result.results:
        high = r.test_risk > r.cutoff
        assert 0.25 < high.mean() < 0.75  # the training median splits the test set roughly in half
        chi2, p = compare_survival(result.y_test, high.astype(int))
        assert r.logrank_chi2 == pytest.approx(chi2) and r.logrank_p == pytest.approx(p)
        assert r.logrank_p < 0.05
        event, _ = event_time(result.y_test)
        assert event[high].mean() > event[~high].mean()


def test_invalid_times_are_rejected() -> None:
    with pytest.raises(InvalidInputError, match="> 0"):
        survival_array([1, 0], np.array([10.0, 0.0]))
