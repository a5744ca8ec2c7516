"""PI-CAI score for checkpoint selection: equals picai_eval, perfect detector = 1, state book-keeping."""

from __future__ import annotations

import math

import numpy as np
import pytest
from picai_eval import evaluate

from pdacrad.model.checks import checkpoint_names
from pdacrad.nnunet_ext.checkpoint_selection import (
    BEST_PICAI_CHECKPOINT,
    FINAL_CHECKPOINT,
    PicaiScore,
    detection_map,
    load_selection_state,
    picai_score,
    save_selection_state,
)

SHAPE = (12, 24, 24)


def _lesion(centre: tuple[int, int, int], radius: int = 3) -> np.ndarray:
    z, y, x = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    cz, cy, cx = centre
    return ((z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= radius**2).astype(np.uint8)


@pytest.fixture(scope="module")
def cohort() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """6 cases, 3 with a lesion; probability maps: blurred lesions of varying confidence plus a false positive."""
    rng = np.random.default_rng(0)
    labels, probs = [], []
    for i in range(6):
        label = _lesion((6, 8 + i, 10)) if i % 2 else np.zeros(SHAPE, np.uint8)
        prob = 0.02 * rng.random(SHAPE)
        if i % 2:
            prob[label > 0] = 0.3 + 0.1 * i
        if i in (2, 3):  # a false positive blob elsewhere
            prob[_lesion((6, 18, 18), 2) > 0] = 0.55
        labels.append(label)
        probs.append(prob.astype(np.float32))
    return [detection_map(p) for p in probs], labels


def test_score_equals_direct_picai_eval(cohort):
    maps, labels = cohort
    ours = picai_score(maps, labels, [f"c{i}" for i in range(6)])
    direct = evaluate(y_det=maps, y_true=labels, num_parallel_calls=1)
    assert ours.auroc == pytest.approx(direct.auroc)
    assert ours.ap == pytest.approx(direct.AP)
    assert ours.score == pytest.approx(direct.score)
    assert (ours.num_cases, ours.num_positive) == (6, 3)
    assert 0.0 < ours.score < 1.0  # the false positive costs something


def test_perfect_detector_scores_one(cohort):
    _, labels = cohort
    perfect = [detection_map(lab.astype(np.float32) * 0.9) for lab in labels]
    result = picai_score(perfect, labels)
    assert result.auroc == pytest.approx(1.0) and result.ap == pytest.approx(1.0) and result.score == 1.0


def test_detection_map_fills_candidates_with_their_confidence():
    prob = np.zeros(SHAPE, np.float32)
    prob[_lesion((6, 12, 12)) > 0] = 0.8
    det = detection_map(prob)
    assert det.dtype == np.float32 and det.shape == SHAPE
    assert set(np.unique(det)) == {0.0, np.float32(0.8)}
    assert not detection_map(np.zeros(SHAPE)).any()


def test_undefined_score_never_improves_and_state_round_trips(tmp_path, cohort):
    _, labels = cohort
    negatives = [lab for lab in labels if not lab.any()]
    undefined = picai_score([np.zeros(SHAPE, np.float32)] * len(negatives), negatives)
    assert math.isnan(undefined.auroc) and math.isnan(undefined.score)

    state = load_selection_state(tmp_path)
    assert state.best_score is None and not state.improved_by(math.nan)
    state = (
        state.record(4, PicaiScore(0.8, 0.6, 0.7, 6, 3))
        .record(9, undefined)
        .record(14, PicaiScore(0.7, 0.5, 0.6, 6, 3))
    )
    assert (state.best_score, state.best_epoch) == (0.7, 4)
    save_selection_state(tmp_path, state)
    again = load_selection_state(tmp_path)
    assert (again.best_score, again.best_epoch) == (0.7, 4)
    assert [e for e, _ in again.history] == [4, 9, 14] and again.history[1][1]["score"] is None


def test_best_picai_is_preferred_only_when_every_used_fold_has_it(tmp_path):
    configured = (FINAL_CHECKPOINT, "checkpoint_best.pth")
    for fold in ("fold_0", "fold_1"):
        (tmp_path / fold).mkdir()
        (tmp_path / fold / FINAL_CHECKPOINT).write_bytes(b"")
    (tmp_path / "fold_0" / BEST_PICAI_CHECKPOINT).write_bytes(b"")
    assert checkpoint_names(tmp_path, None, configured) == configured
    assert checkpoint_names(tmp_path, ["fold_0"], configured) == (BEST_PICAI_CHECKPOINT, *configured)
    (tmp_path / "fold_1" / BEST_PICAI_CHECKPOINT).write_bytes(b"")
    assert checkpoint_names(tmp_path, None, configured) == (BEST_PICAI_CHECKPOINT, *configured)
    # the study's final-checkpoint table: the PI-CAI choice is not taken even where every fold has one
    assert checkpoint_names(tmp_path, None, (FINAL_CHECKPOINT,), prefer_picai=False) == (FINAL_CHECKPOINT,)


def test_mismatched_inputs_are_rejected():
    with pytest.raises(ValueError, match="2 detection maps, 1 labels"):
        picai_score([np.zeros(SHAPE)] * 2, [np.zeros(SHAPE)])
    with pytest.raises(ValueError, match="map"):
        picai_score([np.zeros((2, 2, 2))], [np.zeros(SHAPE)])
