"""stage2 and safe resume: a fold's radiomics.json is never rewritten under a trained model, a fold's inputs are
digested so that a new selection or new out-of-fold masks change them, and a fold to train afresh is moved out of
nnU-Net's way."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from pdacrad_train.config import load_config
from pdacrad_train.nnunet_run import set_aside_fold
from pdacrad_train.steps import stage2
from pdacrad_train.variants import stage2_for
from pdacrad_train.workspace import workspace

from pdacrad.errors import InvalidInputError
from pdacrad.model.radiomics_spec import RadiomicsSpec
from pdacrad.nnunet_ext.conditioning.global_vectors import GLOBAL_VECTORS_FILENAME

CONFIGS = Path(__file__).resolve().parents[3] / "training" / "configs"
SELECTION = RadiomicsSpec(
    params={},
    global_features=("original_firstorder_Mean",),
    mean=(40.0,),
    std=(10.0,),
    map_features=("original_firstorder_Mean",),
    map_params={"voxelSetting": {"kernelRadius": 1}},
).for_variant("global")


@pytest.fixture
def ws_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.setenv(name, str(tmp_path / "work" / name))
    config = load_config(CONFIGS / "synthetic-demo.yaml", tmp_path / "work")
    ws = workspace(config)
    ws.selection_dir(0).mkdir(parents=True)
    (ws.selection_dir(0) / GLOBAL_VECTORS_FILENAME).write_text('{"c0": [0.5]}')
    ws.root.mkdir(parents=True, exist_ok=True)
    ws.cases_table.write_text("case,label\nc0,0\nc1,1\n")
    return config, ws


def test_a_trained_folds_radiomics_json_is_never_rewritten(ws_config) -> None:
    config, ws = ws_config
    folder = stage2.prepare_fold_inputs(config, ws, "global", 0, "per-fold", SELECTION)
    assert RadiomicsSpec.load(folder / "radiomics.json") == SELECTION
    assert (folder / GLOBAL_VECTORS_FILENAME).read_text() == '{"c0": [0.5]}'
    (folder / "checkpoint_latest.pth").write_bytes(b"weights")
    stage2.prepare_fold_inputs(config, ws, "global", 0, "per-fold", SELECTION)  # the same files: fine
    other = dataclasses.replace(SELECTION, mean=(41.0,))  # select ran again on other masks
    with pytest.raises(
        InvalidInputError, match=r"trained with another radiomics.json .* move the fold folder"
    ):
        stage2.prepare_fold_inputs(config, ws, "global", 0, "per-fold", other)
    assert RadiomicsSpec.load(folder / "radiomics.json") == SELECTION
    (ws.selection_dir(0) / GLOBAL_VECTORS_FILENAME).write_text('{"c0": [0.7]}')
    with pytest.raises(InvalidInputError, match=GLOBAL_VECTORS_FILENAME):
        stage2.prepare_fold_inputs(config, ws, "global", 0, "per-fold", SELECTION)


def test_a_folds_inputs_change_with_its_selection_and_masks_not_with_their_paths(ws_config) -> None:
    config, ws = ws_config
    ws.stage1_oof.mkdir(parents=True)
    provenance = {
        c: {"fold": i, "source": f"/a/{c}.nii.gz", "sha256": "0" * 64} for i, c in enumerate(("c0", "c1"))
    }
    (ws.stage1_oof / "provenance.json").write_text(json.dumps(provenance))
    before = stage2.fold_inputs(config, ws, "global", 0, "per-fold", SELECTION)
    assert {
        "plans",
        "preprocessed data",
        "splits",
        "radiomics.json",
        GLOBAL_VECTORS_FILENAME,
        "oof_masks",
    } == set(before)
    base = stage2.fold_inputs(config, ws, "base", 0, "per-fold", SELECTION.for_variant("base"))
    assert "oof_masks" not in base and GLOBAL_VECTORS_FILENAME not in base  # base trains on the ground truth
    moved = {c: {**r, "source": f"/elsewhere/{c}.nii.gz"} for c, r in provenance.items()}
    (ws.stage1_oof / "provenance.json").write_text(json.dumps(moved))  # a moved work folder is not a change
    assert stage2.fold_inputs(config, ws, "global", 0, "per-fold", SELECTION) == before
    moved["c1"]["sha256"] = "1" * 64  # Stage-1 fold 1 retrained
    (ws.stage1_oof / "provenance.json").write_text(json.dumps(moved))
    after = stage2.fold_inputs(
        config, ws, "global", 0, "per-fold", dataclasses.replace(SELECTION, mean=(41.0,))
    )
    assert {k for k in before if before[k] != after[k]} == {"oof_masks", "radiomics.json"}


def test_a_fold_to_train_afresh_is_moved_where_nnunet_does_not_look(ws_config) -> None:
    config, ws = ws_config
    stage = stage2_for(config, "base", 1, "per-fold")
    assert set_aside_fold(ws, stage, 1) is None  # nothing to move
    folder = ws.fold_folder(stage, 1)
    folder.mkdir(parents=True)
    (folder / "checkpoint_latest.pth").write_bytes(b"old weights")
    note = set_aside_fold(ws, stage, 1)
    (moved,) = (ws.model_folder(stage) / "stale").iterdir()
    assert not folder.exists() and (moved / "checkpoint_latest.pth").read_bytes() == b"old weights"
    assert str(moved) in note and "checkpoint_latest.pth" in note
    assert [p.name for p in ws.model_folder(stage).glob("fold_*")] == []  # nnU-Net's fold discovery
    folder.mkdir()
    set_aside_fold(ws, stage, 1)  # again, within the same second: kept apart
    assert len(list((ws.model_folder(stage) / "stale").iterdir())) == 2
