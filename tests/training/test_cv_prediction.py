"""A folder of CV predictions has a record of what it was predicted from (beside it: the folder holds its cases
only); predictions from other inputs are deleted."""

from __future__ import annotations

import json
from pathlib import Path

from pdacrad_train.cv_prediction import discard_stale_predictions, prediction_record


def _case(out: Path, case: str) -> None:
    (out / case).mkdir(parents=True)
    (out / case / "likelihood.json").write_text("0.5")


def test_predictions_from_other_inputs_are_deleted_and_the_new_inputs_recorded(tmp_path: Path) -> None:
    out, inputs = tmp_path / "fold_1", {"checkpoint": "sha256:" + "a" * 64, "oof_masks": "sha256:" + "b" * 64}
    discard_stale_predictions(out, inputs)
    assert json.loads(prediction_record(out).read_text()) == inputs
    _case(out, "case_001")
    discard_stale_predictions(out, dict(inputs))  # same inputs: the case stays
    assert (out / "case_001" / "likelihood.json").is_file()
    changed = {**inputs, "oof_masks": "sha256:" + "c" * 64}  # a new Stage-1 mask of a validation case
    discard_stale_predictions(out, changed)
    assert not (out / "case_001").exists() and json.loads(prediction_record(out).read_text()) == changed
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []  # the layout: cases only


def test_predictions_from_before_the_record_are_kept(tmp_path: Path) -> None:
    out = tmp_path / "fold_0"
    _case(out, "case_000")
    discard_stale_predictions(out, {"checkpoint": "sha256:" + "a" * 64})
    assert (out / "case_000" / "likelihood.json").is_file() and prediction_record(out).is_file()
