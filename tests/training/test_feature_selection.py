"""The feature-selection pipeline: no leakage across CV folds, FDR + SVM-RFE behaviour, radiomics.json from a fitted
pipeline."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from pdacrad_train.feature_selection import (
    FDRFilter,
    cross_validate,
    fit_pipeline,
    label_stratified_folds,
    selected_columns,
    spec_from_pipeline,
)
from pdacrad_train.radiomics_config import (
    MapParamsConfig,
    RadiomicsConfig,
    SelectionConfig,
)

from tests.training.conftest import informative_table


def test_held_out_rows_never_reach_any_fitted_step() -> None:
    """Poisoning the held-out rows (huge values, NaN) changes nothing that a fold's pipeline fitted — usable
    columns, scaler, FDR p-values, RFE choice, SVM weights — only the held-out scores."""
    X, y = informative_table()
    s = SelectionConfig(n_features=3, bootstrap=0)
    folds = label_stratified_folds(y, 5, seed=1)
    clean, clean_fits = cross_validate(X, y, folds, s)
    for k, (train, held_out) in enumerate(folds):
        poisoned = X.copy()
        poisoned.iloc[held_out, 0] = np.nan
        poisoned.iloc[held_out, 3:] = 1e12
        dirty, (fit,) = cross_validate(poisoned, y, [folds[k]], s)
        ref = clean_fits[k]
        assert (
            fit.named_steps["scale"].n_samples_seen_ == ref.named_steps["scale"].n_samples_seen_ == len(train)
        )
        np.testing.assert_array_equal(fit.named_steps["finite"].support_, ref.named_steps["finite"].support_)
        np.testing.assert_array_equal(fit.named_steps["scale"].mean_, ref.named_steps["scale"].mean_)
        np.testing.assert_array_equal(fit.named_steps["fdr"].pvalues_, ref.named_steps["fdr"].pvalues_)
        np.testing.assert_array_equal(selected_columns(fit), selected_columns(ref))
        np.testing.assert_array_equal(
            fit.named_steps["rfe"].estimator_.coef_, ref.named_steps["rfe"].estimator_.coef_
        )
        assert dirty.fold_features[0] == clean.fold_features[k]
        # The poison did reach prediction, and only prediction.
        held = X.index[held_out]
        assert [dirty.scores[c] for c in held] != [clean.scores[c] for c in held]


def test_selection_finds_the_informative_columns_and_scores_them() -> None:
    X, y = informative_table(n=80)
    s = SelectionConfig(n_features=3, bootstrap=200)
    result, _ = cross_validate(X, y, label_stratified_folds(y, 10, 0), s)
    assert all(
        set(f) == {"original_glcm_F0", "original_glcm_F1", "original_glcm_F2"} for f in result.fold_features
    )
    assert result.auroc > 0.85 and result.auroc_ci[0] < result.auroc < result.auroc_ci[1]
    assert (
        result.ap_ci[0] < result.ap <= result.ap_ci[1] and len(result.scores) == 80 and result.n_folds == 10
    )


def test_fdr_filter_tests_and_fallback(caplog: pytest.LogCaptureFixture) -> None:
    X, y = informative_table(n=80)
    for test in ("mannwhitneyu", "ttest"):
        fdr = FDRFilter(test, alpha=0.05, min_keep=2).fit(X.to_numpy(), y)
        kept = set(np.flatnonzero(fdr.get_support()))
        assert {0, 1, 2} <= kept and len(kept) <= 5  # FDR 5%: a false discovery or two may pass
        assert np.all(fdr.qvalues_ >= fdr.pvalues_)
    noise = np.random.default_rng(5).normal(size=(40, 30))
    with caplog.at_level(logging.WARNING):
        fdr = FDRFilter(alpha=1e-6, min_keep=4).fit(noise, np.tile([0, 1], 20))
    assert fdr.get_support().sum() == 4 and "no feature passes FDR" in caplog.text
    assert set(np.flatnonzero(fdr.get_support())) == set(np.argsort(fdr.pvalues_)[:4])


def test_spec_keeps_shape_global_only_and_maps_only_the_used_image_types() -> None:
    X, y = informative_table(n=60, n_features=6)
    X.columns = [
        "original_shape_Sphericity",
        "log-sigma-2-0-mm-3D_glszm_ZoneEntropy",
        "wavelet-LLH_glcm_Idmn",
        "original_glcm_Idn",
        "original_firstorder_Mean",
        "lbp-2D_glrlm_RunEntropy",
    ]
    s = SelectionConfig(n_features=3, bootstrap=0)
    params = {"imageType": {"Original": {}, "LoG": {"sigma": [2.0, 4.0]}, "Wavelet": {}, "LBP2D": {}}}
    spec = spec_from_pipeline(
        fit_pipeline(s, X.to_numpy(), y), list(X.columns), params, RadiomicsConfig(selection=s)
    )
    assert spec.global_features == (
        "original_shape_Sphericity",
        "log-sigma-2-0-mm-3D_glszm_ZoneEntropy",
        "wavelet-LLH_glcm_Idmn",
    )
    assert spec.map_features == ("log-sigma-2-0-mm-3D_glszm_ZoneEntropy", "wavelet-LLH_glcm_Idmn")
    np.testing.assert_allclose(spec.mean, X.iloc[:, :3].mean().to_numpy())
    np.testing.assert_allclose(spec.std, X.iloc[:, :3].std(ddof=0).to_numpy())
    assert spec.map_params["imageType"] == {"LoG": {"sigma": [2.0, 4.0]}, "Wavelet": {}}
    assert spec.map_params["featureClass"] == {"glcm": None, "glszm": None}
    # The paper code's map settings: kernel radius 5 on 1 × 1 × 2.5 mm, HU window 40 ± 200, bin width 20.
    assert spec.map_params["voxelSetting"]["kernelRadius"] == 5
    assert spec.map_params["setting"]["resampledPixelSpacing"] == [1.0, 1.0, 2.5]
    assert spec.map_params["setting"]["binWidth"] == 20
    assert spec.map_params["pdacrad"]["intensityWindow"] == [-160.0, 240.0]
    assert MapParamsConfig(window_level_hu=50, window_width_hu=350).params({}, [])["pdacrad"] == {
        "intensityWindow": [-125.0, 225.0]
    }
