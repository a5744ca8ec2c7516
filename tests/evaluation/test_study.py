"""Variants × folds from the on-disk predictions layout: values equal direct picai_eval calls on the same files,
CIs bracket the estimates, the better variant wins its paired tests, and the report files are complete."""

from __future__ import annotations

import base64
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from picai_eval import evaluate

from pdacrad.errors import InvalidInputError
from pdacrad.evaluation import EvaluationConfig, evaluate_predictions, write_evaluation
from pdacrad.io.predictions import POOLED, discover_predictions

from .conftest import write_cv_predictions

CONFIG = EvaluationConfig(n_bootstrap=200, seed=1)


def _direct(cases):
    return evaluate(
        y_det=[c.detection for c in cases],
        y_true=[(c.label == 1).astype(np.int32) for c in cases],
        subject_list=[c.case for c in cases],
        num_parallel_calls=1,
    )


def test_layout_discovery(cv_predictions) -> None:
    found = discover_predictions(cv_predictions.root)
    assert list(found) == ["base", "maps"]
    for case in found["maps"]:
        assert case.fold == str(cv_predictions.folds[case.case])
        assert case.detection_map.name == "detection_map.mha"


def test_per_fold_and_pooled_equal_direct_picai_eval(cv_predictions) -> None:
    result = evaluate_predictions(cv_predictions.root, cv_predictions.labels_dir, CONFIG)
    assert [v.variant for v in result.variants] == ["base", "maps"]
    for v in result.variants:
        cases = cv_predictions.variants[v.variant]
        direct = _direct(cases)
        assert v.pooled.auroc == direct.auroc and v.pooled.ap == direct.AP
        for fold in ("0", "1"):
            fold_direct = _direct([c for c in cases if cv_predictions.folds[c.case] == int(fold)])
            assert v.scores[fold].auroc == fold_direct.auroc and v.scores[fold].ap == fold_direct.AP
        for name, estimate in (("AUROC", v.pooled.auroc), ("AP", v.pooled.ap), ("score", v.pooled.score)):
            ci = v.intervals[name]
            assert ci.low <= estimate <= ci.high and ci.high > ci.low
            assert ci.n_bootstrap == 200


def test_better_variant_wins_its_paired_tests(tmp_path) -> None:
    cv = write_cv_predictions(tmp_path, n=60, separations={"base": 0.0, "both": 0.8})
    result = evaluate_predictions(cv.root, cv.labels_dir, CONFIG)
    (comparison,) = result.comparisons
    assert comparison.variant == "both" and comparison.reference == "base"
    tests = {(t.metric, t.method.split(" (")[0]): t for t in comparison.tests}
    assert set(tests) == {
        ("AUROC", "DeLong"),
        ("AUROC", "paired bootstrap"),
        ("AP", "paired bootstrap"),
        ("score", "paired bootstrap"),
    }
    pooled = {v.variant: v.pooled for v in result.variants}
    auroc = tests[("AUROC", "DeLong")]
    assert auroc.difference == pytest.approx(pooled["both"].auroc - pooled["base"].auroc)
    assert auroc.difference > 0.2 and auroc.p_value < 0.01
    assert tests[("AUROC", "paired bootstrap")].p_value < 0.05


def test_report_files(cv_predictions, tmp_path) -> None:
    result = evaluate_predictions(cv_predictions.root, cv_predictions.labels_dir, CONFIG)
    files = write_evaluation(result, tmp_path / "evaluation")
    table = pd.read_csv(files.metrics_csv, dtype={"fold": str})
    assert set(table["fold"]) == {"0", "1", POOLED}
    pooled = table[(table["fold"] == POOLED) & (table["variant"] == "maps")].iloc[0]
    assert pooled["AUROC"] == pytest.approx(result.variants[1].pooled.auroc, abs=1e-5)
    assert pooled["label"] == "+maps" and pooled["AUROC_low"] <= pooled["AUROC"] <= pooled["AUROC_high"]
    assert len(pd.read_csv(files.comparisons_csv)) == 4
    saved = json.loads(files.json.read_text())
    assert saved["format_version"] == 2 and set(saved["variants"]) == {"base", "maps"}
    assert set(saved["calibration"]) == {"base", "maps"} and saved["subgroups"] == []  # no case table
    for path in files.plots.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = files.html.read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 5, "the report must embed ROC, PR, FROC, reliability and likelihood plots"
    assert all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    assert "+maps" in html and "DeLong" in html and "<table" in html
    assert 'src="http' not in html and "<link" not in html, "self-contained: no external resources"


def test_variant_with_other_cases_is_refused(cv_predictions) -> None:
    shutil.rmtree(next((cv_predictions.root / "maps" / "fold_0").iterdir()))
    with pytest.raises(InvalidInputError, match="same cases as 'base'"):
        evaluate_predictions(cv_predictions.root, cv_predictions.labels_dir, CONFIG)


def test_missing_label_and_empty_tree_are_invalid_input(cv_predictions, tmp_path) -> None:
    next(cv_predictions.labels_dir.iterdir()).unlink()
    with pytest.raises(InvalidInputError, match="no label for case"):
        evaluate_predictions(cv_predictions.root, cv_predictions.labels_dir, CONFIG)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="no predictions found"):
        evaluate_predictions(tmp_path / "empty", cv_predictions.labels_dir, CONFIG)
