"""Subgroup AUROCs from a case table, calibration and case pictures: values equal direct computations on the same
cases, subgroups follow the table's columns, and bad tables fail with a clear error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from sklearn.metrics import roc_auc_score

from pdacrad.errors import InvalidInputError
from pdacrad.evaluation import CaseSources, EvaluationConfig, evaluate_predictions, write_evaluation
from pdacrad.evaluation.calibration import brier_replicates, calibrate, reliability_bins
from pdacrad.evaluation.metrics import case_scores, case_targets
from pdacrad.evaluation.subgroups import define_subgroups, evaluate_subgroups, read_case_table
from pdacrad.io.predictions import discover_predictions

from .conftest import write_cv_predictions

CONFIG = EvaluationConfig(n_bootstrap=200, seed=3)


def _case_table(cv, path):
    """Positives alternate kinds texture/hypo and sizes 6/15/30 mm; every third negative has a dilated duct."""
    cases = cv.variants["base"]
    rows = []
    for i, c in enumerate(cases):
        positive = int((c.label == 1).any())
        rows.append(
            {
                "case": c.case,
                "label": positive,
                "lesion_kind": ("texture", "hypo")[(i // 2) % 2] if positive else "none",
                "lesion_diameter_mm": (6.0, 15.0, 30.0)[(i // 2) % 3] if positive else 0.0,
                "dilated_duct": int(not positive and i % 3 == 0),
                "noise_sd_hu": 10.0 + i,  # numeric, not a flag
            }
        )
    pd.DataFrame(rows).to_csv(path, index=False)
    return read_case_table(path)


def test_subgroup_aurocs_equal_sklearn_on_the_subgroup(tmp_path) -> None:
    cv = write_cv_predictions(tmp_path, n=36, separations={"base": 0.2, "maps": 0.6})
    table = _case_table(cv, tmp_path / "cases.csv")
    result = evaluate_predictions(cv.root, cv.labels_dir, CONFIG)
    rows = evaluate_subgroups(result, table)
    names = list(dict.fromkeys(r.subgroup.name for r in rows))
    assert names == [
        "lesion_kind=hypo",
        "lesion_kind=texture",
        "lesion_diameter_mm < 10 mm",
        "lesion_diameter_mm 10–20 mm",
        "lesion_diameter_mm ≥ 20 mm",
        "dilated_duct=1",
    ]  # noise_sd_hu and label are not flags
    labels = {str(k): v for k, v in case_targets(result.variants[0].metrics).items()}
    for r in rows:
        variant = next(v for v in result.variants if v.variant == r.variant)
        scores = case_scores(variant.metrics)
        y = [labels[c] for c in r.subgroup.cases]
        s = [scores[c] for c in r.subgroup.cases]
        assert r.auroc.estimate == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        assert r.auroc.low <= r.auroc.estimate <= r.auroc.high
        assert (r.n_positive, r.n_negative) == (sum(y), len(y) - sum(y))
        assert (r.test is None) == (r.variant == "base")
    kinds = {r.subgroup.name: r for r in rows if r.variant == "base"}
    assert kinds["lesion_kind=hypo"].n_positive + kinds["lesion_kind=texture"].n_positive == 18
    assert kinds["dilated_duct=1"].n_positive == 18 and kinds["dilated_duct=1"].n_negative == 6


def test_case_table_errors(tmp_path) -> None:
    (tmp_path / "no_case.csv").write_text("id,label\na,1\n")
    with pytest.raises(InvalidInputError, match="'case' column"):
        read_case_table(tmp_path / "no_case.csv")
    (tmp_path / "twice.csv").write_text("case,label\na,1\na,0\n")
    with pytest.raises(InvalidInputError, match="more than once"):
        read_case_table(tmp_path / "twice.csv")
    (tmp_path / "short.csv").write_text("case,lesion_kind\na,texture\n")
    with pytest.raises(InvalidInputError, match="no row for 1"):
        define_subgroups(read_case_table(tmp_path / "short.csv"), {"a": 1, "b": 0})


def test_brier_and_reliability_equal_direct_computation() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 50)
    s = np.clip(y * 0.6 + rng.uniform(0, 0.4, 50), 0, 1)
    assert brier_replicates(y, s, np.arange(50)[None])[0] == pytest.approx(np.mean((s - y) ** 2))
    bins = reliability_bins(y, s, n_bins=5)
    assert sum(b.n_cases for b in bins) == 50
    for b in bins:
        members = (s >= b.low) & ((s < b.high) | (b.high == 1.0))
        assert b.n_cases == members.sum()
        assert b.observed_rate == pytest.approx(y[members].mean())
    # a likelihood of exactly 1 falls in the last bin
    assert reliability_bins(np.array([1]), np.array([1.0]), 5)[0].low == pytest.approx(0.8)


def test_calibration_of_a_variant_and_report_with_case_pictures(tmp_path) -> None:
    cv = write_cv_predictions(tmp_path, n=24, separations={"base": 0.1, "both": 0.7})
    table = _case_table(cv, tmp_path / "cases.csv")
    images = tmp_path / "images"
    images.mkdir()
    for c in cv.variants["base"]:
        ct = np.where(c.label > 0, 40.0, -100.0).astype(np.float32)
        sitk.WriteImage(sitk.GetImageFromArray(ct), str(images / f"{c.case}_0000.nii.gz"))
    result = evaluate_predictions(cv.root, cv.labels_dir, CONFIG)
    cal = calibrate(result.variants[1], result)
    arrays_y = np.array([int(v) for v in case_targets(result.variants[1].metrics).values()])
    arrays_s = np.array(list(case_scores(result.variants[1].metrics).values()))
    assert cal.brier.estimate == pytest.approx(np.mean((arrays_s - arrays_y) ** 2))
    sources = CaseSources(table, discover_predictions(cv.root), images, cv.labels_dir, n_figures=3)
    files = write_evaluation(result, tmp_path / "out", ["note"], sources)
    assert [p.suffix for p in files.case_figures] == [".png"] * 3
    assert {"reliability", "likelihoods", "subgroups"} <= set(files.plots)
    sub = pd.read_csv(files.subgroups_csv)
    assert set(sub["variant"]) == {"base", "both"} and sub["AUROC"].between(0, 1).all()
    html = files.html.read_text()
    assert "AUROC by subgroup" in html and "Brier" in html and "disagree most" in html
    # the pictured cases are those with the widest likelihood spread
    scores = [case_scores(v.metrics) for v in result.variants]
    spread = sorted((abs(scores[0][c] - scores[1][c]) for c in scores[0]), reverse=True)
    pictured = [abs(scores[0][p.stem] - scores[1][p.stem]) for p in files.case_figures]
    assert pictured == pytest.approx(spread[:3])
