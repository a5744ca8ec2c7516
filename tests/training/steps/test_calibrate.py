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
from pdacrad_train.steps.export import calibration_to_export
from pdacrad_train.workspace import workspace
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

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
    for variant in ("base", "maps"):
        rows = cases[cases["variant"] == variant]
        pooled = LikelihoodCalibration.load(out / variant / CALIBRATION_NAME)
        expected = fit_platt(rows["raw"].to_numpy(), rows["label"].to_numpy())
        assert pooled.slope == pytest.approx(expected.slope, rel=1e-5)
        assert pooled.n_fixed == int((rows["raw"] == 0).sum()) > 0  # empty maps: likelihood 0 stays 0
        assert (rows.loc[rows["raw"] == 0, "cross_fitted"] == 0).all()
        assert variant in pooled.fitted_on
    summary = pd.read_csv(out / "summary.csv").set_index("variant")
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
