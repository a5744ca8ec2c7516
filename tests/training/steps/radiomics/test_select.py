"""select: per-fold selection without leakage, pooled selection with its leak stated, and selection on a synthetic
cohort whose lesions differ from the pancreas only in texture."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pdacrad_train.cli import app
from pdacrad_train.config import load_config
from pdacrad_train.parallel import MapCompute
from pdacrad_train.radiomics_config import (
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
from tests.training.conftest import informative_table

#: The map settings of these tests: CPU, float64, one in-process worker thread.
IN_PROCESS = MapCompute("cpu", "float64", n_workers=1, processes=False)

CONFIGS = Path(__file__).resolve().parents[4] / "training" / "configs"
TEXTURE_CLASSES = ("glcm", "glrlm", "glszm", "gldm", "ngtdm")


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
    run_global_features(ws, rcfg, IN_PROCESS, allow_gt_masks=True)
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
    X, y = informative_table(n=n, n_features=30, seed=3)
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


def test_a_fold_whose_training_cases_lost_their_pancreas_is_refused_by_name(tmp_path: Path) -> None:
    """Where Stage 1 found no pancreas in a fold's training cases (all-NaN features), selection names the fold
    and the cause instead of failing inside scikit-learn with "0 sample(s)"."""
    from pdacrad.errors import InvalidInputError

    config, ws, rcfg, splits = _per_fold_setup(tmp_path)
    table = pd.read_csv(ws.global_features_table, index_col="case", dtype={"case": str})
    table.loc[splits[2]["train"], :] = np.nan
    table.to_csv(ws.global_features_table)
    with pytest.raises(InvalidInputError, match=r"fold 2: .* only 0 of its \d+ training cases"):
        run_select(config, ws, rcfg)


def _small() -> dict[str, int]:
    return {"n_features": 3, "bootstrap": 0, "cv_folds": 4}
