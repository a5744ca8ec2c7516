"""Calibration, recalibration and decision curves: library parity and behaviour on known (mis)calibration."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, confusion_matrix

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics_stats.recalibration import (
    calibration_metrics,
    cross_fitted_recalibration,
    decision_curve,
    fit_recalibration,
    logit,
)


def _simulated(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes drawn from the probabilities themselves: perfectly calibrated by construction."""
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-rng.normal(-0.5, 1.5, n)))
    return (rng.random(n) < p).astype(int), p


def test_calibrated_probabilities_have_slope_one_intercept_zero_and_pass_hosmer_lemeshow() -> None:
    y, p = _simulated()
    result = calibration_metrics(y, p)
    assert result.slope == pytest.approx(1.0, abs=0.1)
    assert result.intercept == pytest.approx(0.0, abs=0.1)
    assert result.hl_p > 0.01 and result.hl_groups == 10
    assert result.brier == pytest.approx(brier_score_loss(y, p), abs=1e-15)
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
    np.testing.assert_allclose(result.curve["observed_fraction"], observed)
    np.testing.assert_allclose(result.curve["mean_predicted"], predicted)
    direct = sm.Logit(y, sm.add_constant(logit(p))).fit(disp=0).params[1]
    assert result.slope == pytest.approx(direct, rel=1e-10)


def test_overconfident_probabilities_are_detected_and_recalibration_fixes_them() -> None:
    y, p = _simulated(seed=1)
    overconfident = 1 / (1 + np.exp(-2.5 * logit(p)))
    bad = calibration_metrics(y, overconfident)
    assert bad.slope == pytest.approx(0.4, abs=0.05) and bad.hl_p < 1e-6
    for method in ("platt", "isotonic"):
        fixed = cross_fitted_recalibration(y, overconfident, method)  # type: ignore[arg-type]
        good = calibration_metrics(y, fixed)
        assert good.brier < bad.brier and abs(good.slope - 1) < 0.15, method
    platt = fit_recalibration(y, overconfident, "platt")
    assert platt(overconfident) == pytest.approx(p, abs=0.03)  # recovers the true probabilities


def test_decision_curve_matches_confusion_matrix_and_reference_strategies(wisconsin) -> None:  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = wisconsin
    y = y.to_numpy()
    p = cross_val_predict(
        make_pipeline(StandardScaler(), LogisticRegression()), x, y, cv=5, method="predict_proba"
    )[:, 1]
    curve = decision_curve(y, p).set_index("threshold")
    prevalence = y.mean()
    for pt in (0.1, 0.3, 0.5):
        row = curve.loc[curve.index[np.argmin(abs(curve.index - pt))]]
        _tn, fp, _fn, tp = confusion_matrix(y, p >= row.name).ravel()
        expected = tp / len(y) - fp / len(y) * row.name / (1 - row.name)
        assert row["net_benefit_model"] == pytest.approx(expected, abs=1e-12)
        assert row["net_benefit_all"] == pytest.approx(
            prevalence - (1 - prevalence) * row.name / (1 - row.name)
        )
    # A good model beats both reference strategies over the clinically relevant range.
    relevant = curve.loc[0.05:0.6]
    assert (relevant["net_benefit_model"] > relevant["net_benefit_all"]).all()
    assert (relevant["net_benefit_model"] > 0).all()
    assert calibration_metrics(y, p).brier < 0.05


def test_invalid_probabilities_are_rejected() -> None:
    with pytest.raises(InvalidInputError, match=r"\[0, 1\]"):
        calibration_metrics(np.array([0, 1]), np.array([0.2, 1.2]))
    with pytest.raises(InvalidInputError, match="strictly between"):
        decision_curve(np.array([0, 1]), np.array([0.2, 0.8]), np.array([0.0, 0.5]))
