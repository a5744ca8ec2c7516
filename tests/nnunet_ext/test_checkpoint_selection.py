"""Checkpoint selection's book-keeping: snapshot names, the score's NaN rule, the history file, and which checkpoint
inference loads. (The score of predictions, and the selection itself, are the training tree's
``select-checkpoint`` step: tests/training/steps/test_select_checkpoint.py.)"""

from __future__ import annotations

import json
import math

import pytest

from pdacrad.model.checks import checkpoint_names
from pdacrad.nnunet_ext.checkpoint_selection import (
    BEST_PICAI_CHECKPOINT,
    FINAL_CHECKPOINT,
    SELECTION_LOG,
    PicaiScore,
    load_selection_state,
    save_selection_state,
    snapshot_epochs,
    snapshot_name,
)


def test_snapshot_names_round_trip_and_sort_by_epoch() -> None:
    assert (
        snapshot_name(100) == "checkpoint_epoch_0100.pth"
        and snapshot_epochs("checkpoint_epoch_0100.pth") == 100
    )
    assert snapshot_epochs(snapshot_name(12345)) == 12345
    for other in (
        FINAL_CHECKPOINT,
        BEST_PICAI_CHECKPOINT,
        "checkpoint_epoch_.pth",
        "checkpoint_epoch_0100.pth.tmp",
    ):
        assert snapshot_epochs(other) is None
    assert sorted(snapshot_name(e) for e in (300, 50, 1000)) == [snapshot_name(e) for e in (50, 300, 1000)]


def test_score_is_undefined_when_either_metric_is() -> None:
    assert PicaiScore.of(0.8, 0.6, 6, 3).score == pytest.approx(0.7)
    assert math.isnan(PicaiScore.of(math.nan, 0.6, 6, 0).score)
    assert math.isnan(PicaiScore.of(0.8, math.nan, 6, 3).score)


def test_undefined_score_never_improves_and_state_round_trips(tmp_path) -> None:
    undefined = PicaiScore.of(math.nan, math.nan, 3, 0)
    state = load_selection_state(tmp_path)
    assert state.best_score is None and not state.improved_by(math.nan) and state.best_checkpoint is None
    state = (
        state.record(4, PicaiScore(0.8, 0.6, 0.7, 6, 3), checkpoint=snapshot_name(5), sha256="a")
        .record(9, undefined, checkpoint=snapshot_name(10), sha256="b")
        .record(14, PicaiScore(0.7, 0.5, 0.6, 6, 3), checkpoint=FINAL_CHECKPOINT, sha256="c")
    )
    assert (state.best_score, state.best_epoch, state.best_checkpoint) == (0.7, 4, snapshot_name(5))
    save_selection_state(tmp_path, state, note="a note")
    payload = json.loads((tmp_path / SELECTION_LOG).read_text())
    assert payload["best_checkpoint"] == snapshot_name(5) and payload["note"] == "a note"
    again = load_selection_state(tmp_path)
    assert (again.best_score, again.best_epoch, again.best_checkpoint) == (0.7, 4, snapshot_name(5))
    assert [e for e, _ in again.history] == [4, 9, 14] and again.history[1][1]["score"] is None
    assert [h["checkpoint"] for _, h in again.history] == [
        snapshot_name(5),
        snapshot_name(10),
        FINAL_CHECKPOINT,
    ]


def test_best_picai_is_preferred_only_when_every_used_fold_has_it(tmp_path) -> None:
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
