"""``pdacrad-train analyze`` end to end on real tables: CSV, PNG and report.md written; bad input exits 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pdacrad_train.cli import app
from typer.testing import CliRunner

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, ["analyze", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 10_000, path


@pytest.fixture
def wisconsin_tables(wisconsin, tmp_path: Path) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    x, y = wisconsin
    case = [f"case{i:03d}" for i in range(len(y))]
    features, clinical = tmp_path / "features.csv", tmp_path / "clinical.csv"
    x.iloc[:, :10].assign(case=case).to_csv(features, index=False)
    pd.DataFrame({"case": case, "label": y.to_numpy()}).to_csv(clinical, index=False)
    return features, clinical


def test_compare_models_then_calibration(wisconsin_tables, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    features, clinical = wisconsin_tables
    out = tmp_path / "compare"
    _invoke(
        "compare-models",
        "-f",
        str(features),
        "--clinical",
        str(clinical),
        "-o",
        str(out),
        "--model",
        "lasso",
        "--model",
        "xgboost",
        "--outer-folds",
        "3",
        "--inner-folds",
        "2",
        "--n-estimators",
        "20",
        "--n-bootstrap",
        "100",
    )
    table = pd.read_csv(out / "model_comparison.csv")
    assert list(table["model"]) == ["lasso", "xgboost"] and (table["auroc"] > 0.95).all()
    for name in ("roc.png", "shap_summary.png"):
        _assert_png(out / name)
    assert "DeLong" in (out / "report.md").read_text()

    calibration = tmp_path / "calibration"
    _invoke(
        "calibration",
        "--predictions",
        str(out / "oof_probabilities.csv"),
        "-o",
        str(calibration),
        "--recalibrate",
        "platt",
    )
    summary = pd.read_csv(calibration / "calibration.csv")
    assert list(summary["model"]) == ["lasso", "xgboost", "lasso_platt", "xgboost_platt"]
    dca = pd.read_csv(calibration / "decision_curve.csv")
    assert {"threshold", "net_benefit_model", "net_benefit_all", "net_benefit_none", "model"} <= set(
        dca.columns
    )
    for name in ("reliability.png", "decision_curve.png"):
        _assert_png(calibration / name)


def test_robustness_harmonise_and_survival(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 60
    case = np.repeat([f"c{i}" for i in range(n)], 3)
    truth = rng.normal(0, 1, (n, 1)).repeat(3, axis=0)
    long = pd.DataFrame({"case": case, "perturbation": np.tile(["orig", "erode", "dilate"], n)})
    long["original_firstorder_Mean"] = truth[:, 0] + rng.normal(0, 0.1, 3 * n)
    long["original_glcm_Idm"] = truth[:, 0] + rng.normal(0, 2.0, 3 * n)
    long.to_csv(tmp_path / "perturbed.csv", index=False)
    _invoke("robustness", "-p", str(tmp_path / "perturbed.csv"), "-o", str(tmp_path / "rob"))
    assert (tmp_path / "rob" / "robust_features.txt").read_text().split() == ["original_firstorder_Mean"]
    _assert_png(tmp_path / "rob" / "icc.png")

    sites = pd.DataFrame(rng.normal(0, 1, (90, 5)), columns=[f"f{i}" for i in range(5)])
    sites["site"] = np.repeat(["A", "B", "C"], 30)
    sites.loc[sites["site"] == "B", "f0"] += 3
    sites["case"] = [f"s{i}" for i in range(90)]
    sites.to_csv(tmp_path / "train.csv", index=False)
    sites.head(9).to_csv(tmp_path / "new.csv", index=False)
    _invoke(
        "harmonise",
        "--train",
        str(tmp_path / "train.csv"),
        "--new",
        str(tmp_path / "new.csv"),
        "--batch",
        "site",
        "-o",
        str(tmp_path / "combat"),
        "--non-parametric",
    )
    assert len(pd.read_csv(tmp_path / "combat" / "harmonised_new.csv")) == 9
    _assert_png(tmp_path / "combat" / "combat_train.png")

    from sksurv.column import encode_categorical
    from sksurv.datasets import load_gbsg2

    x, y = load_gbsg2()
    ids = [f"p{i}" for i in range(len(y))]
    encode_categorical(x).assign(case=ids).to_csv(tmp_path / "surv_features.csv", index=False)
    pd.DataFrame({"case": ids, "time": y["time"], "event": y["cens"].astype(int)}).to_csv(
        tmp_path / "surv_clinical.csv", index=False
    )
    _invoke(
        "survival",
        "-f",
        str(tmp_path / "surv_features.csv"),
        "--clinical",
        str(tmp_path / "surv_clinical.csv"),
        "-o",
        str(tmp_path / "surv"),
        "--n-estimators",
        "30",
    )
    survival = pd.read_csv(tmp_path / "surv" / "survival.csv")
    assert list(survival["model"]) == ["cox_penalised", "random_survival_forest"]
    _assert_png(tmp_path / "surv" / "km_cox_penalised.png")


def test_missing_label_column_exits_2_with_one_line(wisconsin_tables, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    features, clinical = wisconsin_tables
    result = CliRunner().invoke(
        app,
        [
            "analyze",
            "compare-models",
            "-f",
            str(features),
            "--clinical",
            str(clinical),
            "-o",
            str(tmp_path / "x"),
            "--label",
            "diagnosis",
        ],
    )
    assert result.exit_code == 2
    assert "missing column(s) ['diagnosis']" in result.output
    assert not (tmp_path / "x").exists()
