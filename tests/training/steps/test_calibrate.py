"""`pdacrad-train calibrate` on synthetic CV predictions: the pooled map is the fit on every case, each fold is
calibrated by the fit on the other fold only, the within-fold AUROC does not move, the outputs are written, and
`export` picks the matching variant and checkpoint's map."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pdacrad_train.cli import app
from pdacrad_train.config import load_config
from pdacrad_train.steps.calibrate import REJECTED_NAME, case_labels, save_pooled_map, shipped
from pdacrad_train.steps.export import calibration_to_export
from pdacrad_train.workspace import workspace
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from pdacrad.evaluation.calibration import cross_fit_calibration
from pdacrad.model.calibration import LikelihoodCalibration, fit_platt
from pdacrad.model.manifest import CALIBRATION_NAME
from tests.evaluation.conftest import write_cv_predictions

CONFIG = Path(__file__).resolve().parents[3] / "training" / "configs" / "synthetic-demo.yaml"


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("calibrate")
    cv = write_cv_predictions(tmp, n=40, separations={"base": 0.1, "maps": 0.4})
    args = [
        "calibrate",
        "--config",
        str(CONFIG),
        "--work-dir",
        str(tmp / "work"),
        "--predictions",
        str(cv.root),
    ]
    args += ["--labels", str(cv.labels_dir), "--out", str(tmp / "out"), "--n-bootstrap", "200"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return tmp / "out", result.output


def test_outputs_and_the_pooled_map_that_export_ships(calibrated) -> None:
    out, output = calibrated
    assert {p.name for p in out.iterdir()} >= {
        "summary.csv", "reliability.csv", "cases.csv", "calibration.json", "reliability_base.png", "base", "maps",
    }  # fmt: skip
    cases = pd.read_csv(out / "cases.csv", dtype={"fold": str})
    summary = pd.read_csv(out / "summary.csv").set_index("variant")
    for variant in ("base", "maps"):
        rows = cases[cases["variant"] == variant]
        helps = summary.loc[variant, "Brier_change_high"] < 0  # only then is the map exported
        assert summary.loc[variant, "exported"] == helps
        names = {p.name for p in (out / variant).iterdir()}
        assert names == {CALIBRATION_NAME if helps else REJECTED_NAME}
        pooled = LikelihoodCalibration.load(out / variant / next(iter(names)))
        expected = fit_platt(rows["raw"].to_numpy(), rows["label"].to_numpy())
        assert pooled.slope == pytest.approx(expected.slope, rel=1e-5)
        assert pooled.n_fixed == int((rows["raw"] == 0).sum()) > 0  # empty maps: likelihood 0 stays 0
        assert (rows.loc[rows["raw"] == 0, "cross_fitted"] == 0).all()
        assert variant in pooled.fitted_on
    assert set(summary["exported"]) == {True, False}  # the fixture's two variants cover both outcomes
    assert (summary["fold_AUROC_change_max"] == 0).all()
    assert (summary["Brier_raw_low"] <= summary["Brier_raw"]).all()
    assert (summary["Brier_raw"] <= summary["Brier_raw_high"]).all()
    assert summary.loc["maps", "Brier_change"] == pytest.approx(
        summary.loc["maps", "Brier_cross_fitted"] - summary.loc["maps", "Brier_raw"], abs=1e-5
    )
    assert "within folds max |Δ| 0.0e+00" in output
    bins = pd.read_csv(out / "reliability.csv")
    assert (
        set(bins["stage"]) == {"raw", "cross-fitted"}
        and (bins.groupby(["variant", "stage"])["n_cases"].sum() == 40).all()
    )


def test_each_fold_is_calibrated_by_the_other_fold_and_keeps_its_auroc(calibrated) -> None:
    out, _ = calibrated
    cases = pd.read_csv(out / "cases.csv", dtype={"fold": str})
    report = json.loads((out / "calibration.json").read_text())
    rows = cases[cases["variant"] == "maps"]
    for fold, other in (("0", "1"), ("1", "0")):
        mine, theirs = rows[rows["fold"] == fold], rows[rows["fold"] == other]
        expected = fit_platt(theirs["raw"].to_numpy(), theirs["label"].to_numpy())
        np.testing.assert_allclose(mine["cross_fitted"], expected.apply(mine["raw"].to_numpy()), rtol=1e-5)
        assert report["variants"]["maps"]["fold_maps"][fold]["slope"] == pytest.approx(expected.slope)
        assert roc_auc_score(mine["label"], mine["cross_fitted"]) == roc_auc_score(mine["label"], mine["raw"])


def test_a_missing_variant_exits_2(tmp_path: Path) -> None:
    cv = write_cv_predictions(tmp_path, n=8, separations={"base": 0.3})
    args = [
        "calibrate",
        "--config",
        str(CONFIG),
        "--work-dir",
        str(tmp_path / "w"),
        "--predictions",
        str(cv.root),
    ]
    result = CliRunner().invoke(app, [*args, "--labels", str(cv.labels_dir), "--variant", "maps"])
    assert result.exit_code == 2 and "maps" in result.output


def test_export_takes_the_map_of_its_variant_and_checkpoint(tmp_path: Path) -> None:
    config = load_config(CONFIG, tmp_path / "work")
    ws = workspace(config)
    final = dataclasses.replace(config, export=dataclasses.replace(config.export, variant="maps"))
    assert final.export.checkpoint == "checkpoint_final.pth"
    assert calibration_to_export(final, ws) is None  # nothing fitted yet: the package stays uncalibrated
    target = ws.calibration_dir("final") / "maps" / CALIBRATION_NAME
    target.parent.mkdir(parents=True)
    LikelihoodCalibration(1.0, 0.0).save(target)
    assert calibration_to_export(final, ws) == target
    picai = dataclasses.replace(
        final, export=dataclasses.replace(final.export, checkpoint="checkpoint_best_picai.pth")
    )
    assert calibration_to_export(picai, ws) is None  # the PI-CAI checkpoint's predictions were not calibrated
    plain = dataclasses.replace(config, export=dataclasses.replace(config.export, variant=None))
    assert calibration_to_export(plain, ws) is None


def test_a_rejected_refit_removes_the_map_an_earlier_run_left_for_export(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = np.tile([0, 1], 40)
    # each fold model ranks well but on its own band (0.75 / 0.25): a map learnt on one misplaces the other
    scores = np.r_[np.full(40, 0.75), np.full(40, 0.25)] + 0.1 * (labels - 0.5) + rng.normal(0, 0.03, 80)
    result = cross_fit_calibration("v", labels, scores, ["0"] * 40 + ["1"] * 40, n_bootstrap=200)
    assert not shipped(result)
    LikelihoodCalibration(1.0, 0.0).save(tmp_path / CALIBRATION_NAME)  # an earlier run's accepted map
    save_pooled_map("v", result, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {REJECTED_NAME}


def test_case_labels_of_the_committed_record_equal_its_case_table() -> None:
    record = CONFIG.parents[2] / "docs" / "ablation" / "record"
    table = pd.read_csv(record / "cases.csv", dtype={"case": str})
    labels = case_labels(record / "labels", table["case"].tolist())
    assert labels == dict(zip(table["case"], table["label"].astype(int), strict=True))
