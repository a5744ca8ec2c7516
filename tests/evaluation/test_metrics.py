"""Our picai_eval wrapper gives the numbers of direct picai_eval calls; likelihoods replace the case score;
subsets and bootstrap replicates agree with picai_eval on the same cases."""

from __future__ import annotations

import numpy as np
import pytest
from picai_eval import evaluate

from pdacrad.evaluation.metrics import (
    CaseArrays,
    DetectionScores,
    evaluate_cases,
    metric_replicates,
    subset,
)
from pdacrad.stats import bootstrap_indices

from .conftest import make_cases


@pytest.fixture(scope="module")
def cases():
    return make_cases(30, separation=0.4, seed=7)


def _direct(cases):
    return evaluate(
        y_det=[c.detection for c in cases],
        y_true=[(c.label == 1).astype(np.int32) for c in cases],
        subject_list=[c.case for c in cases],
        num_parallel_calls=1,
    )


def test_values_equal_direct_picai_eval(cases) -> None:
    ours = evaluate_cases(
        [c.detection for c in cases],
        [c.label for c in cases],  # full label map: only label 1 is lesion
        [c.case for c in cases],
        [c.likelihood for c in cases],
    )
    direct = _direct(cases)
    scores = DetectionScores.from_metrics(ours)
    assert scores.auroc == direct.auroc and scores.ap == direct.AP
    assert scores.score == pytest.approx(direct.score, abs=1e-15)
    assert scores.n_cases == 30 and scores.n_positive == 15
    for fp, sens in scores.froc:
        assert sens == direct.lesion_TPR_at_FPR(fp)
    # not a degenerate cohort: the numbers are informative
    assert 0.5 < scores.auroc < 1.0 and 0.0 < scores.ap < 1.0


def test_likelihood_replaces_the_case_score(cases) -> None:
    flipped = [1.0 - c.likelihood for c in cases]
    ours = evaluate_cases(
        [c.detection for c in cases], [c.label for c in cases], [c.case for c in cases], flipped
    )
    direct = _direct(cases)
    assert ours.auroc == pytest.approx(1.0 - direct.auroc)
    assert ours.AP == direct.AP, "AP is lesion-level: it uses the map's candidates, not the likelihood"


def test_subset_equals_evaluating_the_subset(cases) -> None:
    full = evaluate_cases([c.detection for c in cases], [c.label for c in cases], [c.case for c in cases])
    part = cases[:14]
    sub = subset(full, [c.case for c in part])
    direct = _direct(part)
    assert sub.auroc == direct.auroc and sub.AP == direct.AP
    assert sub.lesion_TPR_at_FPR(1.0) == direct.lesion_TPR_at_FPR(1.0)


def test_replicates_equal_picai_eval_on_resampled_subject_lists(cases) -> None:
    metrics = evaluate_cases([c.detection for c in cases], [c.label for c in cases], [c.case for c in cases])
    arrays = CaseArrays.from_metrics(metrics)
    idx = bootstrap_indices(arrays.labels, 5, seed=0)
    subjects = np.asarray(arrays.subjects, dtype=object)
    auroc = metric_replicates(metrics, arrays, "AUROC", idx)
    ap = metric_replicates(metrics, arrays, "AP", idx)
    for row, a, p in zip(idx, auroc, ap, strict=True):
        assert a == pytest.approx(metrics.calc_auroc(subject_list=list(subjects[row])), abs=1e-12)
        assert p == metrics.calc_AP(subject_list=list(subjects[row]))
    np.testing.assert_allclose(metric_replicates(metrics, arrays, "score", idx), (auroc + ap) / 2)
    with pytest.raises(ValueError, match="unknown metric"):
        metric_replicates(metrics, arrays, "F1", idx)
