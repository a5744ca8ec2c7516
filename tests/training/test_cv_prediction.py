"""A folder of CV predictions records what it was predicted from; predictions from other inputs are deleted."""

from __future__ import annotations

import json
from pathlib import Path

from pdacrad_train.cv_prediction import PREDICTION_INPUTS, discard_stale_predictions


def _case(out: Path, case: str) -> None:
    (out / case).mkdir(parents=True)
    (out / case / "likelihood.json").write_text("0.5")


def test_predictions_from_other_inputs_are_deleted_and_the_new_inputs_recorded(tmp_path: Path) -> None:
    out, inputs = tmp_path / "fold_1", {"checkpoint": "sha256:" + "a" * 64, "oof_masks": "sha256:" + "b" * 64}
    discard_stale_predictions(out, inputs)
    assert json.loads((out / PREDICTION_INPUTS).read_text()) == inputs
    _case(out, "case_001")
    discard_stale_predictions(out, dict(inputs))  # same inputs: the case stays
    assert (out / "case_001" / "likelihood.json").is_file()
    changed = {**inputs, "oof_masks": "sha256:" + "c" * 64}  # a new Stage-1 mask of a validation case
    discard_stale_predictions(out, changed)
    assert not (out / "case_001").exists() and json.loads((out / PREDICTION_INPUTS).read_text()) == changed


def test_predictions_from_before_the_record_are_kept(tmp_path: Path) -> None:
    out = tmp_path / "fold_0"
    _case(out, "case_000")
    discard_stale_predictions(out, {"checkpoint": "sha256:" + "a" * 64})
    assert (out / "case_000" / "likelihood.json").is_file() and (out / PREDICTION_INPUTS).is_file()
