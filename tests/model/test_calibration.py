"""The likelihood calibration map (:mod:`pdacrad.model.calibration`): its fit is the maximum-likelihood Platt fit,
it is strictly increasing with 0 and 1 fixed (AUROC unchanged), cross-fitting never sees a fold's own labels, and
``calibration.json`` round-trips and fails loudly when malformed or unlisted."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from pdacrad.errors import ResourceError
from pdacrad.model.calibration import (
    MAX_SLOPE,
    MIN_SLOPE,
    LikelihoodCalibration,
    cross_fit,
    fit_platt,
    load_resources_calibration,
)


def _logistic_sample(n: int, slope: float, intercept: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw likelihoods whose true calibration is ``sigmoid(slope · logit(p) + intercept)``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.5, n)
    return expit(x), rng.random(n) < expit(slope * x + intercept)


def test_fit_recovers_the_true_map_of_a_large_logistic_sample() -> None:
    p, y = _logistic_sample(200_000, 1.7, -0.6, seed=0)
    fitted = fit_platt(p, y)
    assert fitted.slope == pytest.approx(1.7, abs=0.03) and fitted.intercept == pytest.approx(-0.6, abs=0.03)
    assert (fitted.n_cases, fitted.n_positive, fitted.n_fixed) == (200_000, int(y.sum()), 0)


def test_fit_equals_sklearns_unpenalised_logistic_regression_on_platts_targets() -> None:
    p, y = _logistic_sample(300, 0.8, 0.4, seed=1)
    fitted = fit_platt(p, y)
    # Platt's soft targets t as two weighted copies of each case: label 1 with weight t, label 0 with 1 − t
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    t = np.where(y, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    x = np.concatenate([logit(p), logit(p)])[:, None]
    reference = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(
        x, np.r_[np.ones(p.size), np.zeros(p.size)], sample_weight=np.r_[t, 1 - t]
    )
    assert fitted.slope == pytest.approx(reference.coef_[0, 0], rel=1e-6)
    assert fitted.intercept == pytest.approx(reference.intercept_[0], abs=1e-6)


def test_the_map_is_strictly_increasing_keeps_0_and_1_and_the_auroc() -> None:
    p, y = _logistic_sample(500, 1.0, 0.0, seed=2)
    calibration = LikelihoodCalibration(slope=2.0, intercept=-1.0)
    grid = np.concatenate([[0.0, 1e-30], np.linspace(1e-6, 1 - 1e-6, 10_001), [1 - 6e-8, 1.0]])
    mapped = calibration.apply(grid)
    assert mapped[0] == 0.0 and mapped[-1] == 1.0 and np.all(np.diff(mapped) > 0)
    assert roc_auc_score(y, calibration.apply(p)) == roc_auc_score(y, p)
    assert calibration.apply(0.5) == pytest.approx(expit(-1.0))
    # the steepest map: float64 can tie two values only where both round to within 1e-16 of 1 (documented)
    steep = LikelihoodCalibration(slope=MAX_SLOPE, intercept=3.0).apply(grid)
    below_one = steep < 1.0 - 1e-15
    assert below_one[grid < 0.998].all() and np.all(np.diff(steep[below_one]) > 0)


def test_scores_that_do_not_rank_get_the_minimal_slope_and_the_base_rate(caplog) -> None:
    p = np.tile([0.2, 0.4, 0.6, 0.8], 50)
    y = np.tile([1, 1, 0, 0], 50)  # anti-informative: the unconstrained slope is negative
    with caplog.at_level(logging.WARNING, logger="pdacrad"):
        fitted = fit_platt(p, y)
    assert fitted.slope == MIN_SLOPE and "do not rank" in caplog.text
    assert np.mean(fitted.apply(p)) == pytest.approx(0.5, abs=0.01)
    separable = fit_platt(np.r_[np.full(20, 0.45), np.full(20, 0.55)], np.r_[np.zeros(20), np.ones(20)])
    assert separable.slope == MAX_SLOPE


def test_likelihoods_of_exactly_0_or_1_are_left_out_of_the_fit() -> None:
    p, y = _logistic_sample(400, 1.2, 0.3, seed=3)
    with_fixed = fit_platt(np.r_[p, 0.0, 0.0, 1.0], np.r_[y, 1, 0, 0])
    assert with_fixed.n_fixed == 3 and with_fixed.slope == fit_platt(p, y).slope
    with pytest.raises(ValueError, match="positive and negative"):
        fit_platt([0.0, 0.3, 1.0], [1, 0, 0])


def test_cross_fitting_never_uses_a_folds_own_labels() -> None:
    p0, y0 = _logistic_sample(200, 2.0, 1.0, seed=4)
    p1, y1 = _logistic_sample(
        200, 0.5, -1.0, seed=5
    )  # the folds disagree: fitting fold 0 on itself would differ
    scores, folds = np.r_[p0, p1], np.r_[["0"] * 200, ["1"] * 200]
    calibrated, maps = cross_fit(scores, np.r_[y0, y1], folds)
    np.testing.assert_array_equal(calibrated[:200], fit_platt(p1, y1).apply(p0))
    flipped, _ = cross_fit(scores, np.r_[1 - y0, y1], folds)  # fold 0's own labels changed ...
    np.testing.assert_array_equal(flipped[:200], calibrated[:200])  # ... its calibrated values did not
    assert not np.allclose(fit_platt(p0, y0).apply(p0), calibrated[:200])
    for k, (p, y) in enumerate(((p0, y0), (p1, y1))):
        assert roc_auc_score(y, calibrated[200 * k : 200 * (k + 1)]) == roc_auc_score(y, p)
    assert maps["0"].fitted_on == "folds other than 0"


def test_calibration_json_round_trips_byte_for_byte(tmp_path: Path) -> None:
    fitted = fit_platt(*_logistic_sample(100, 1.0, 0.2, seed=6), fitted_on="fold predictions of base")
    fitted.save(tmp_path / "a.json")
    again = LikelihoodCalibration.load(tmp_path / "a.json")
    assert again == fitted
    again.save(tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"format_version": 2, "method": "platt-logit", "slope": 1, "intercept": 0}', "format_version 2"),
        ('{"format_version": 1, "method": "platt-logit", "slope": 1}', "lacks required key"),
        ('{"format_version": 1, "method": "platt-logit", "slope": -1, "intercept": 0}', "slope > 0"),
        (
            '{"format_version": 1, "method": "isotonic", "slope": 1, "intercept": 0}',
            "unknown calibration method",
        ),
        ('{"format_version": 1, "method": "platt-logit", "slope": "1", "intercept": 0}', "expected a number"),
    ],
)
def test_a_malformed_file_is_a_resource_error_naming_it(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "calibration.json"
    path.write_text(content)
    with pytest.raises(ResourceError, match=message) as error:
        LikelihoodCalibration.load(path)
    assert str(path) in str(error.value)


def test_a_resources_folder_without_calibration_is_uncalibrated_and_an_unlisted_one_refused(
    tmp_path: Path, caplog
) -> None:
    with caplog.at_level(logging.INFO, logger="pdacrad"):
        assert load_resources_calibration(tmp_path, ()) is None
    assert "uncalibrated" in caplog.text
    LikelihoodCalibration(1.5, -0.5).save(tmp_path / "calibration.json")
    with pytest.raises(ResourceError, match="not listed in the manifest"):
        load_resources_calibration(tmp_path, ("stage1/plans.json",))
    loaded = load_resources_calibration(tmp_path, ("calibration.json",))
    assert loaded == LikelihoodCalibration(1.5, -0.5)
    assert json.loads((tmp_path / "calibration.json").read_text())["format_version"] == 1
