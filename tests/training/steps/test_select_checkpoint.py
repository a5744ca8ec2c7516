"""select-checkpoint's book-keeping, with the prediction pipeline replaced by fixed per-checkpoint outputs: the
candidates (snapshots by epoch, then the final checkpoint; a stale snapshot ignored), the score (the one
``evaluate`` gives the same predictions), the best copied to checkpoint_best_picai.pth, both tables' predictions
left behind, and resume (nothing predicted twice; a changed checkpoint file or Stage-1 mask predicted again).

The same selection through the real pipeline, compared with the ``predict`` step's outputs, is in
tests/training/test_experiment.py."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from pdacrad_train.checkpoint_candidates import fold_candidates, score_predictions
from pdacrad_train.config import load_config
from pdacrad_train.parallel import MapCompute
from pdacrad_train.steps import select_checkpoint
from pdacrad_train.variants import stage2_for
from pdacrad_train.workspace import workspace

from pdacrad.evaluation.study import EvaluationConfig, evaluate_predictions
from pdacrad.io.atomic import atomic_write_json
from pdacrad.io.predictions import DETECTION_MAP_NAME, LIKELIHOOD_NAME
from pdacrad.nnunet_ext.checkpoint_selection import (
    BEST_PICAI_CHECKPOINT,
    FINAL_CHECKPOINT,
    load_selection_state,
    snapshot_name,
)

#: The map settings of these tests: CPU, float64, one in-process worker thread.
IN_PROCESS = MapCompute("cpu", "float64", n_workers=1, processes=False)

CONFIGS = Path(__file__).resolve().parents[3] / "training" / "configs"
SHAPE = (8, 12, 12)
VAL = ["c0", "c1", "c2", "c3", "c4"]  # c1, c3 positive
#: Each candidate's likelihood per validation case: epoch 2 ranks perfectly, epoch 1 and the final do not.
QUALITY = {
    snapshot_name(1): [0.9, 0.2, 0.5, 0.3, 0.1],
    snapshot_name(2): [0.1, 0.9, 0.2, 0.8, 0.3],
    FINAL_CHECKPOINT: [0.3, 0.7, 0.8, 0.2, 0.1],
}


def _lesion() -> np.ndarray:
    mask = np.zeros(SHAPE, np.uint8)
    mask[3:6, 4:8, 4:8] = 1
    return mask


@pytest.fixture()
def fold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A work folder with labels, splits and one trained-looking ``base`` fold 0 (three candidates, one stale
    snapshot past the final epoch); the pipeline replaced by :data:`QUALITY` maps, counting its calls."""
    config = load_config(CONFIGS / "synthetic-demo.yaml", tmp_path / "work")
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.setenv(name, str(tmp_path / "work" / name))
    ws = workspace(config)
    (ws.cohort / "labelsTr").mkdir(parents=True)
    for i, case in enumerate(VAL):
        label = _lesion() if i in (1, 3) else np.zeros(SHAPE, np.uint8)
        sitk.WriteImage(sitk.GetImageFromArray(label), str(ws.cohort / "labelsTr" / f"{case}.nii.gz"))
    ws.splits_file(config.stage2).parent.mkdir(parents=True)
    ws.splits_file(config.stage2).write_text(json.dumps([{"train": ["t0"], "val": VAL}]))
    folder = ws.fold_folder(stage2_for(config, "base", 0, "per-fold"), 0)
    folder.mkdir(parents=True)
    for name, epochs in (
        (snapshot_name(1), 1),
        (snapshot_name(2), 2),
        (FINAL_CHECKPOINT, 3),
        (snapshot_name(5), 5),
    ):
        torch.save(
            {"current_epoch": epochs, "network_weights": {"w": torch.full((2,), float(epochs))}},
            folder / name,
        )
    calls: list[str] = []

    def fake_predict(config, ws, variant, fold, mode, targets, compute) -> int:  # type: ignore[no-untyped-def]
        for checkpoint, out in targets.items():
            calls.append(checkpoint)
            for case, value in zip(VAL, QUALITY[checkpoint], strict=True):
                detection = (_lesion() * value).astype(np.float32)
                (out / case).mkdir(parents=True, exist_ok=True)
                sitk.WriteImage(sitk.GetImageFromArray(detection), str(out / case / DETECTION_MAP_NAME))
                atomic_write_json(value, out / case / LIKELIHOOD_NAME)
        return len(VAL) * len(targets)

    monkeypatch.setattr(select_checkpoint, "predict_validation_cases", fake_predict)
    return config, ws, folder, calls


def test_candidates_are_snapshots_by_epoch_then_the_final_one(fold) -> None:
    _, _, folder, _ = fold
    assert [(c.name, c.epoch) for c in fold_candidates(folder)] == [
        (snapshot_name(1), 0),
        (snapshot_name(2), 1),
        (FINAL_CHECKPOINT, 2),
    ]  # checkpoint_epoch_0005 is from an earlier, longer training of this folder


def test_the_best_snapshot_is_copied_and_both_tables_predictions_are_left(fold) -> None:
    config, ws, folder, calls = fold
    state = select_checkpoint.select_fold(config, ws, "base", 0, "per-fold", IN_PROCESS)
    assert calls == [snapshot_name(1), snapshot_name(2), FINAL_CHECKPOINT]
    assert [h["checkpoint"] for _, h in state.history] == calls
    assert (state.best_checkpoint, state.best_epoch) == (snapshot_name(2), 1)
    assert (folder / BEST_PICAI_CHECKPOINT).read_bytes() == (folder / snapshot_name(2)).read_bytes()
    # the final checkpoint's predictions are the predict step's (final) folder; the selected one's the picai table
    final, picai = ws.fold_predictions("final", "base", 0), ws.fold_predictions("picai", "base", 0)
    assert sorted(p.name for p in final.iterdir()) == VAL == sorted(p.name for p in picai.iterdir())
    source = ws.snapshot_predictions("base", 0, snapshot_name(2))
    assert (picai / "c1" / LIKELIHOOD_NAME).read_text() == (source / "c1" / LIKELIHOOD_NAME).read_text()
    # each recorded score is what the evaluate step computes from the same predictions
    result = evaluate_predictions(
        ws.predictions_dir("picai"), ws.cohort / "labelsTr", EvaluationConfig(n_bootstrap=5)
    )
    pooled = result.variants[0].pooled
    assert state.best_score == pytest.approx(pooled.score) and pooled.auroc == pytest.approx(1.0)
    recorded = dict(state.history)
    assert recorded[2]["score"] == pytest.approx(score_predictions(final, VAL, ws.cohort / "labelsTr").score)
    assert select_checkpoint.is_selected(config, ws, "base", 0, "per-fold")


def test_a_rerun_predicts_only_what_changed(fold) -> None:
    config, ws, folder, calls = fold
    first = select_checkpoint.select_fold(config, ws, "base", 0, "per-fold", IN_PROCESS)
    calls.clear()
    again = select_checkpoint.select_fold(config, ws, "base", 0, "per-fold", IN_PROCESS)
    assert calls == [] and again.history == first.history
    torch.save(
        {"current_epoch": 1, "network_weights": {"w": torch.zeros(2)}}, folder / snapshot_name(1)
    )  # retrained
    select_checkpoint.select_fold(config, ws, "base", 0, "per-fold", IN_PROCESS)
    assert calls == [snapshot_name(1)]
    assert load_selection_state(folder).best_checkpoint == snapshot_name(2)


def test_a_new_stage1_mask_of_a_validation_case_predicts_every_candidate_again(fold) -> None:
    """Issue 20 item 4: the prediction folders record their inputs; a retrained Stage-1 fold that changed one
    validation case's mask invalidates every candidate's predictions, a training case's mask none."""
    config, ws, _, calls = fold
    provenance = {c: {"fold": 1, "source": f"/a/{c}.nii.gz", "sha256": "0" * 64} for c in [*VAL, "t0"]}
    ws.stage1_oof.mkdir(parents=True)
    (ws.stage1_oof / "provenance.json").write_text(json.dumps(provenance))
    select_checkpoint.select_fold(config, ws, "base", 0, "per-fold", IN_PROCESS)
    calls.clear()
    provenance["t0"]["sha256"] = "1" * 64  # not one of the fold's validation cases
    (ws.stage1_oof / "provenance.json").write_text(json.dumps(provenance))
    select_checkpoint.select_fold(config, ws, "base", 0, "per-fold", IN_PROCESS)
    assert calls == []
    provenance["c2"]["sha256"] = "2" * 64
    (ws.stage1_oof / "provenance.json").write_text(json.dumps(provenance))
    select_checkpoint.select_fold(config, ws, "base", 0, "per-fold", IN_PROCESS)
    assert calls == [snapshot_name(1), snapshot_name(2), FINAL_CHECKPOINT]


def test_without_a_defined_score_the_final_checkpoint_stands_in(fold, monkeypatch) -> None:
    config, ws, folder, _ = fold
    for case in VAL:  # a validation fold without lesions: no AUROC
        sitk.WriteImage(
            sitk.GetImageFromArray(np.zeros(SHAPE, np.uint8)), str(ws.cohort / "labelsTr" / f"{case}.nii.gz")
        )
    state = select_checkpoint.select_fold(config, ws, "base", 0, "per-fold", IN_PROCESS)
    assert state.best_checkpoint is None and [h["score"] for _, h in state.history] == [None] * 3
    assert math.isnan(select_checkpoint._recorded_score(state.history[0][1]).auroc)
    assert (folder / BEST_PICAI_CHECKPOINT).read_bytes() == (folder / FINAL_CHECKPOINT).read_bytes()
    assert "final checkpoint stands in" in (folder / "picai_selection.json").read_text()


def test_a_selection_made_during_training_by_an_older_pdacrad_is_kept(fold, caplog) -> None:
    config, ws, folder, calls = fold
    legacy = {
        "best_score": 0.6,
        "best_epoch": 599,
        "history": [{"epoch": 599, "auroc": 0.7, "ap": 0.5, "score": 0.6}],
    }
    (folder / "picai_selection.json").write_text(json.dumps(legacy))
    (folder / BEST_PICAI_CHECKPOINT).write_bytes(b"the old in-training choice")
    state = select_checkpoint.select_fold(config, ws, "base", 0, "per-fold", IN_PROCESS)
    assert calls == [] and state.best_epoch == 599
    assert (folder / BEST_PICAI_CHECKPOINT).read_bytes() == b"the old in-training choice"
    assert json.loads((folder / "picai_selection.json").read_text()) == legacy
    assert "move picai_selection.json and checkpoint_best_picai.pth aside" in caplog.text
    assert select_checkpoint.is_selected(config, ws, "base", 0, "per-fold")
