"""select: no leakage across CV folds, FDR + SVM-RFE behaviour, radiomics.json, and selection on a synthetic cohort
whose lesions differ from the pancreas only in texture."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pdacrad_train.cli import app
from pdacrad_train.config import load_config
from pdacrad_train.feature_selection import (
    FDRFilter,
    cross_validate,
    fit_pipeline,
    image_type_of,
    selected_columns,
    spec_from_pipeline,
    stratified_folds,
)
from pdacrad_train.radiomics_config import (
    MapParamsConfig,
    RadiomicsConfig,
    SelectionConfig,
    load_radiomics_config,
)
from pdacrad_train.splits import nnunet_splits
from pdacrad_train.steps.radiomics.global_features import run_global_features
from pdacrad_train.steps.radiomics.select import run_select
from pdacrad_train.variants import load_selection
from pdacrad_train.workspace import NNUNET_FOLDERS, Workspace, workspace
from typer.testing import CliRunner

from pdacrad.synth import generate_cohort

CONFIGS = Path(__file__).resolve().parents[4] / "training" / "configs"
TEXTURE_CLASSES = ("glcm", "glrlm", "glszm", "gldm", "ngtdm")


def _table(n: int = 60, n_features: int = 40, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Columns f0..f2 shift with the label; the rest is noise."""
    rng = np.random.default_rng(seed)
    y = np.tile([0, 1], n // 2)
    X = rng.normal(size=(n, n_features))
    X[:, :3] += 1.5 * y[:, None]
    names = [f"original_glcm_F{i}" for i in range(n_features)]
    return pd.DataFrame(X, index=[f"c{i:03d}" for i in range(n)], columns=names), y


def test_held_out_rows_never_reach_any_fitted_step() -> None:
    """Poisoning the held-out rows (huge values, NaN) changes nothing that a fold's pipeline fitted — usable
    columns, scaler, FDR p-values, RFE choice, SVM weights — only the held-out scores."""
    X, y = _table()
    s = SelectionConfig(n_features=3, bootstrap=0)
    folds = stratified_folds(y, 5, seed=1)
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
    X, y = _table(n=80)
    s = SelectionConfig(n_features=3, bootstrap=200)
    result, _ = cross_validate(X, y, stratified_folds(y, 10, 0), s)
    assert all(
        set(f) == {"original_glcm_F0", "original_glcm_F1", "original_glcm_F2"} for f in result.fold_features
    )
    assert result.auroc > 0.85 and result.auroc_ci[0] < result.auroc < result.auroc_ci[1]
    assert (
        result.ap_ci[0] < result.ap <= result.ap_ci[1] and len(result.scores) == 80 and result.n_folds == 10
    )


def test_fdr_filter_tests_and_fallback(caplog: pytest.LogCaptureFixture) -> None:
    X, y = _table(n=80)
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
    X, y = _table(n=60, n_features=6)
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


@pytest.mark.parametrize(
    ("feature", "key"),
    [
        ("original_glcm_Idmn", "Original"),
        ("log-sigma-1-0-mm-3D_glcm_Idmn", "LoG"),
        ("wavelet-HHL_glcm_Idmn", "Wavelet"),
        ("lbp-2D_glcm_Idmn", "LBP2D"),
        ("squareroot_glcm_Idmn", "SquareRoot"),
        ("square_glcm_Idmn", "Square"),
        ("logarithm_glcm_Idmn", "Logarithm"),
    ],
)
def test_image_type_of_feature_names(feature: str, key: str) -> None:
    types = {k: {} for k in ("Original", "LoG", "Wavelet", "LBP2D", "Square", "SquareRoot", "Logarithm")}
    assert image_type_of(feature, types) == key


# --- the synthetic cohort: lesions with the pancreas' mean HU, different texture ----------------------------

TEXTURE_PARAMS = """\
setting:
  binWidth: 20
imageType:
  Original: {}
  LoG:
    sigma: [1.0, 2.0]
featureClass:
  shape:
  glcm:
  glrlm:
  glszm:
  gldm:
  ngtdm:
pdacrad:
  intensityWindow: [-160, 240]
"""


@pytest.fixture(scope="module")
def texture_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """40 phantoms, all lesions texture-only; global features on the ground-truth pancreas (labels 1, 4, 5)."""
    root = tmp_path_factory.mktemp("select")
    cohort = root / "cohort"
    generate_cohort(cohort, 40, seed=0, texture_fraction=1.0, size_xyz=(96, 96, 32), progress=False)
    config = yaml.safe_load((CONFIGS / "synthetic-demo.yaml").read_text())
    config.update(work_dir=str(root / "work"), cohort={"source": "folder", "path": str(cohort)})
    (root / "demo.yaml").write_text(yaml.safe_dump(config))
    (root / "texture.yaml").write_text(TEXTURE_PARAMS)
    side = {"params": "texture.yaml", "n_workers": 1, "selection": {"bootstrap": 500}}
    (root / "demo.radiomics.yaml").write_text(yaml.safe_dump(side))
    return root, root / "demo.yaml"


def test_texture_only_lesions_select_texture_features(
    texture_run: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, config_path = texture_run
    for name in NNUNET_FOLDERS:  # nnU-Net's folders under the work dir, as the CLI will resolve them
        monkeypatch.delenv(name, raising=False)
    config = load_config(config_path)
    ws = workspace(config)
    rcfg = load_radiomics_config(config)
    assert rcfg.params_path == root / "texture.yaml" and rcfg.selection.bootstrap == 500
    run_global_features(ws, rcfg, processes=False, allow_gt_masks=True)
    assert pd.read_csv(ws.global_features_table).shape == (40, 1 + 14 + 3 * 75)

    result = CliRunner().invoke(app, ["select", "--config", str(config_path), "--mode", "pooled"])
    assert result.exit_code == 0, result.output
    print(result.output)  # the CV AUROC and AP with their CIs, for the test log
    line = next(x for x in result.output.splitlines() if "10-fold stratified CV" in x)
    assert "AUROC" in line and "95% CI" in line and "AP" in line
    assert "LEAK" in result.output

    pooled = ws.selection_dir(None)
    spec = load_selection(ws, None)
    assert len(spec.global_features) == 10
    assert all(f.split("_")[1] in TEXTURE_CLASSES for f in spec.global_features), spec.global_features
    assert spec.map_features == spec.global_features  # no shape feature was selected, so all are maps
    assert spec.variant == "both" and spec.preprocessing.roi_margins_mm_xyz == config.stage2.margins_mm_xyz
    report = json.loads((pooled / "selection_report.json").read_text())
    assert (
        report["mode"] == "pooled"
        and "every validation fold helped choose its own inputs" in report["leakage"]
    )
    auroc, (low, high) = report["cv_stratified"]["auroc"], report["cv_stratified"]["auroc_ci95"]
    assert low < auroc < high
    assert auroc > 0.7, f"texture-only cohort: CV AUROC {auroc:.3f}"
    assert len(report["cv_training_tree_folds"]["fold_features"]) == 5
    vectors = json.loads((pooled / "global_vectors.json").read_text())
    assert vectors["feature_names"] == list(spec.global_features) and len(vectors["vectors"]) == 40
    z = np.array(list(vectors["vectors"].values()))
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(z.std(axis=0), 1.0, rtol=1e-9)


# --- per-fold selection: no leakage from a fold's validation cases -------------------------------------------


def _per_fold_setup(tmp_path: Path, n: int = 48) -> tuple[object, Workspace, RadiomicsConfig, list[dict]]:
    """A features table (3 informative columns among 30) and cases.csv written as the steps would, and Stage 2's
    splits_final.json with 3 folds."""
    config = load_config(CONFIGS / "synthetic-demo.yaml", tmp_path / "work")
    ws = Workspace(tmp_path / "work", tmp_path / "cohort", *(tmp_path / k for k in ("raw", "pre", "res")))
    X, y = _table(n=n, n_features=30, seed=3)
    ws.root.mkdir(parents=True)
    pd.DataFrame({"case": X.index, "label": y}).to_csv(ws.cases_table, index=False)
    X.index.name = "case"
    ws.global_features_table.parent.mkdir(parents=True)
    X.to_csv(ws.global_features_table)
    folds = [list(X.index[i::3]) for i in range(3)]
    splits = nnunet_splits(folds)
    target = ws.preprocessed_dataset(config.stage2) / "splits_final.json"
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(splits))
    rcfg = RadiomicsConfig(selection=SelectionConfig(n_features=3, bootstrap=0, cv_folds=4))
    return config, ws, rcfg, splits


def _fold_outputs(ws: Workspace, k: int) -> tuple[str, dict, dict]:
    folder = ws.selection_dir(k)
    vectors = json.loads((folder / "global_vectors.json").read_text())["vectors"]
    report = json.loads((folder / "selection_report.json").read_text())
    return (folder / "radiomics.json").read_text(), vectors, report


def test_per_fold_selection_ignores_its_validation_cases(tmp_path: Path) -> None:
    """Poisoning fold 1's validation cases' features (huge values, NaN) changes nothing of fold 1's
    radiomics.json (features, scaler, maps) nor its training cases' vectors — but does change the folds that
    train on those cases, so the poison is real."""
    config, ws, rcfg, splits = _per_fold_setup(tmp_path)
    result = run_select(config, ws, rcfg)
    assert result.mode == "per-fold" and [s.fold for s in result.selections] == [0, 1, 2]
    assert not ws.selection_dir(None).exists()
    clean = {k: _fold_outputs(ws, k) for k in range(3)}
    spec = load_selection(ws, 1)
    assert spec.variant == "both" and spec.preprocessing.roi_margins_mm_xyz == config.stage2.margins_mm_xyz
    assert set(spec.global_features) == {"original_glcm_F0", "original_glcm_F1", "original_glcm_F2"}
    _, vectors, report = clean[1]
    assert report["n_train_cases"] == len(splits[1]["train"]) and report["leakage"].startswith("none")
    assert set(vectors) == set(splits[0]["train"]) | set(splits[0]["val"])  # every case of the dataset
    train = pd.read_csv(ws.global_features_table, index_col="case").loc[splits[1]["train"]]
    z = np.array([vectors[c] for c in splits[1]["train"]])
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-9)  # the scaler was fitted on these cases only
    np.testing.assert_allclose(spec.mean, train[list(spec.global_features)].mean().to_numpy())

    table = pd.read_csv(ws.global_features_table, index_col="case", dtype={"case": str})
    val = splits[1]["val"]
    table.loc[val, table.columns[3:]] = 1e12
    table.loc[val, "original_glcm_F0"] = np.nan
    table.loc[val, "original_glcm_F1"] *= -50.0
    table.to_csv(ws.global_features_table)
    run_select(config, ws, rcfg)
    poisoned = {k: _fold_outputs(ws, k) for k in range(3)}
    assert poisoned[1][0] == clean[1][0]  # radiomics.json byte for byte: features, scaler, map params
    assert {c: poisoned[1][1][c] for c in splits[1]["train"]} == {
        c: clean[1][1][c] for c in splits[1]["train"]
    }
    assert any(poisoned[1][1][c] != clean[1][1][c] for c in val)  # the poison reached prediction only
    assert poisoned[0][0] != clean[0][0] and poisoned[2][0] != clean[2][0]  # folds that train on them changed


def test_per_fold_needs_the_stage2_splits_and_pooled_states_its_leak(tmp_path: Path) -> None:
    from pdacrad.errors import InvalidInputError

    config, ws, rcfg, _ = _per_fold_setup(tmp_path, n=40)
    (ws.preprocessed_dataset(config.stage2) / "splits_final.json").unlink()
    with pytest.raises(InvalidInputError, match=r"splits_final\.json.*pdacrad-train splits"):
        run_select(config, ws, rcfg)
    with pytest.raises(InvalidInputError, match=r"run `pdacrad-train select` with selection\.mode per-fold"):
        load_selection(ws, 0)
    result = run_select(config, ws, RadiomicsConfig(selection=SelectionConfig(mode="pooled", **_small())))
    assert [s.fold for s in result.selections] == [None]
    report = json.loads((ws.selection_dir(None) / "selection_report.json").read_text())
    assert "LEAK" in report["leakage"] and report["n_cases"] == 40
    summary = json.loads(result.summary.read_text())
    assert summary["mode"] == "pooled" and len(summary["cv_stratified"]["fold_auroc"]) == 4


def _small() -> dict[str, int]:
    return {"n_features": 3, "bootstrap": 0, "cv_folds": 4}


def test_radiomics_side_files_load_and_typos_fail(tmp_path: Path) -> None:
    from pdacrad_train.radiomics_config import PAPER_GLOBAL_PARAMS, load_params

    from pdacrad.errors import InvalidInputError

    demo = load_radiomics_config(load_config(CONFIGS / "synthetic-demo.yaml"))
    assert demo.params_path == CONFIGS / "params" / "demo_global.yaml" and demo.maps == MapParamsConfig()
    assert "LoG" in load_params(demo.params_path)["imageType"]
    paper = load_radiomics_config(
        load_config(CONFIGS / "panorama.yaml")
    )  # its side file spells out the paper's recipe (the defaults)
    assert paper.params_path == PAPER_GLOBAL_PARAMS and PAPER_GLOBAL_PARAMS.is_file()
    assert paper.selection == SelectionConfig() and paper.selection.n_features == 10
    assert paper.selection.mode == "per-fold" and paper.maps.mask_dilation_mm == 5.0
    radiomics_demo = load_radiomics_config(load_config(CONFIGS / "synthetic-demo-radiomics.yaml"))
    assert radiomics_demo.selection.mode == "pooled" and radiomics_demo.maps.kernel_radius == 1
    bad = tmp_path / "r.yaml"
    bad.write_text("selection:\n  n_feature: 5\n")
    with pytest.raises(InvalidInputError, match=r"selection: unknown key\(s\) n_feature"):
        load_radiomics_config(load_config(CONFIGS / "synthetic-demo.yaml"), bad)
    bad.write_text("selection:\n  cv_folds: 1\n")
    with pytest.raises(InvalidInputError, match="cv_folds ≥ 2"):
        load_radiomics_config(load_config(CONFIGS / "synthetic-demo.yaml"), bad)
