"""`pdacrad-train evaluate` on synthetic CV predictions with known answers in the documented layout: the numbers
it prints and writes equal direct picai_eval calls, and a missing predictions folder exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pdacrad_train.cli import app
from picai_eval import evaluate
from typer.testing import CliRunner

from tests.evaluation.conftest import write_cv_predictions

CONFIG = Path(__file__).resolve().parents[3] / "training" / "configs" / "synthetic-demo.yaml"


def test_evaluate_writes_the_report_of_every_variant(tmp_path: Path) -> None:
    # the demo work dir's default places: <work_dir>/cv_predictions_final (the final checkpoints, the default
    # table) and the synthetic cohort's labelsTr
    cv = write_cv_predictions(
        tmp_path, n=20, separations={"base": 0.1, "maps": 0.3, "global": 0.2, "both": 0.4}
    )
    cv.root.rename(tmp_path / "cv_predictions_final")
    (tmp_path / "cohort").mkdir()
    cv.labels_dir.rename(tmp_path / "cohort" / "labelsTr")
    kinds = {c.case: ("texture" if i % 4 == 0 else "hypo") for i, c in enumerate(cv.variants["base"])}
    pd.DataFrame(
        {
            "case": list(kinds),
            "lesion_kind": [k if int(c[-3:]) % 2 == 0 else "none" for c, k in kinds.items()],
        }
    ).to_csv(tmp_path / "cohort" / "cases.csv", index=False)  # the cohort's case table is found by default
    args = ["evaluate", "--config", str(CONFIG), "--work-dir", str(tmp_path), "--n-bootstrap", "100"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = tmp_path / "evaluation_final"
    assert {p.name for p in out.iterdir()} >= {"metrics.csv", "comparisons.csv", "report.html", "roc.png"}
    table = pd.read_csv(out / "metrics.csv", dtype={"fold": str})
    pooled = table[table["fold"] == "pooled"].set_index("variant")
    assert list(pooled.index) == ["base", "maps", "global", "both"]
    for variant, cases in cv.variants.items():
        direct = evaluate(
            y_det=[c.detection for c in cases],
            y_true=[(c.label == 1).astype(np.int32) for c in cases],
            subject_list=[c.case for c in cases],
            num_parallel_calls=1,
        )
        assert pooled.loc[variant, "AUROC"] == pytest.approx(direct.auroc, abs=1e-5)
        assert pooled.loc[variant, "AP"] == pytest.approx(direct.AP, abs=1e-5)
        assert f"AUROC {direct.auroc:.3f}" in result.output
    subgroups = pd.read_csv(out / "subgroups.csv")
    assert set(subgroups["subgroup"]) == {"lesion_kind=texture", "lesion_kind=hypo"}
    comparisons = pd.read_csv(out / "comparisons.csv")
    assert set(comparisons["variant"]) == {"maps", "global", "both"}
    assert comparisons["p_value"].between(0, 1).all()


def test_evaluate_without_predictions_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", "--config", str(CONFIG), "--work-dir", str(tmp_path)])
    assert result.exit_code == 2 and "predictions folder not found" in result.output


def test_evaluate_takes_n_bootstrap_from_the_config_unless_given(tmp_path: Path) -> None:
    # the study config's experiment.n_bootstrap made the record; the reproduce command must not need the flag
    cv = write_cv_predictions(tmp_path, n=12, separations={"base": 0.1, "maps": 0.5})
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.read_text() + "\nexperiment:\n  n_bootstrap: 37\n")
    common = ["evaluate", "--config", str(config), "--work-dir", str(tmp_path)]
    common += ["--predictions", str(cv.root), "--labels", str(cv.labels_dir)]
    for extra, expected in (([], 37), (["--n-bootstrap", "41"], 41)):
        out = tmp_path / f"out_{expected}"
        result = CliRunner().invoke(app, [*common, "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        assert json.loads((out / "evaluation.json").read_text())["config"]["n_bootstrap"] == expected
        methods = set(pd.read_csv(out / "comparisons.csv")["method"])
        assert f"paired bootstrap (B={expected})" in methods
        assert f"{expected} replicates" in (out / "report.html").read_text()
