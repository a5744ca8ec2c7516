"""Plans overrides: the topology nnU-Net would compute for the new patch, cut to the requested depth; a DDP run
that nnU-Net would refuse is refused first, with the fix; plans for another channel count are made again."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from pdacrad_train.config import RunConfig, StageConfig
from pdacrad_train.nnunet_run import _plan_stage, apply_plans_overrides, plans_channels, train_fold
from pdacrad_train.workspace import Workspace

from pdacrad.errors import InvalidInputError


def _plans() -> dict:
    arch = {
        "n_stages": 5,
        "features_per_stage": [32, 64, 128, 256, 320],
        "kernel_sizes": [[1, 3, 3]] + [[3, 3, 3]] * 4,
        "strides": [[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2]],
        "n_conv_per_stage": [2] * 5,
        "n_conv_per_stage_decoder": [2] * 4,
    }
    full = {
        "spacing": [5.0, 2.5, 2.5],
        "patch_size": [48, 96, 96],
        "batch_size": 9,
        "architecture": {"arch_kwargs": arch},
    }
    return {"configurations": {"2d": {"patch_size": [96, 96]}, "3d_fullres": full}}


def test_patch_stages_features_and_batch_are_overridden_consistently() -> None:
    plans = _plans()
    original = copy.deepcopy(plans)
    stage = StageConfig(
        dataset_id=1, dataset_name="x", patch_size_zyx=(20, 48, 48), base_features=8, max_features=64,
        max_stages=4, batch_size=2,
    )  # fmt: skip
    out = apply_plans_overrides(plans, stage)
    assert plans == original  # the input is not modified
    assert list(out["configurations"]) == ["3d_fullres"]
    conf = out["configurations"]["3d_fullres"]
    arch = conf["architecture"]["arch_kwargs"]
    assert conf["patch_size"] == [20, 48, 48] and conf["batch_size"] == 2
    assert (
        arch["n_stages"]
        == 4
        == len(arch["strides"])
        == len(arch["kernel_sizes"])
        == len(arch["n_conv_per_stage"])
    )
    assert len(arch["n_conv_per_stage_decoder"]) == 3
    assert arch["features_per_stage"] == [8, 16, 32, 64]
    # The patch is divisible by the product of the strides on every axis (what the U-Net needs).
    for axis in range(3):
        total = 1
        for stride in arch["strides"]:
            total *= stride[axis]
        assert conf["patch_size"][axis] % total == 0
    # Anisotropic spacing (5 mm vs 2.5 mm): the first stride does not pool along z.
    assert arch["strides"][1][0] == 1


def test_none_keeps_nnunets_plan() -> None:
    out = apply_plans_overrides(_plans(), StageConfig(dataset_id=1, dataset_name="x"))
    assert out["configurations"]["3d_fullres"] == _plans()["configurations"]["3d_fullres"]


def test_raw_dataset_digest_changes_when_a_channel_or_dataset_json_changes(tmp_path) -> None:
    """The preprocessing marker: maps recomputed from other masks must not reuse old preprocessed arrays."""
    import os

    from pdacrad_train.nnunet_run import raw_dataset_digest

    raw = tmp_path / "Dataset901_X"
    (raw / "imagesTr").mkdir(parents=True)
    (raw / "labelsTr").mkdir()
    (raw / "dataset.json").write_text('{"channel_names": {"0": "CT"}}')
    (raw / "imagesTr" / "a_0000.nii.gz").write_bytes(b"ct")
    (raw / "imagesTr" / "a_0001.nii.gz").write_bytes(b"map")
    (raw / "labelsTr" / "a.nii.gz").write_bytes(b"label")
    first = raw_dataset_digest(raw)
    assert raw_dataset_digest(raw) == first
    channel = raw / "imagesTr" / "a_0001.nii.gz"
    channel.write_bytes(b"other map")  # recomputed from other masks: new size and time
    second = raw_dataset_digest(raw)
    assert second != first
    stat = channel.stat()
    os.utime(channel, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # same size, rewritten later
    assert raw_dataset_digest(raw) != second
    third = raw_dataset_digest(raw)
    (raw / "dataset.json").write_text('{"channel_names": {"0": "CT", "1": "x_y_z"}}')
    assert raw_dataset_digest(raw) != third


def test_ddp_with_a_planned_batch_below_the_gpu_count_is_refused_before_training(tmp_path: Path) -> None:
    """The Stage-2 plan's batch of 2 on 4 GPUs trips nnU-Net's batch ≥ world-size assertion after start-up;
    the config leaves the batch to nnU-Net's plan, so train_fold reads the plan and refuses before anything runs."""
    ws = Workspace(tmp_path, tmp_path / "cohort", *(tmp_path / n for n in ("raw", "pre", "results")))
    stage = StageConfig(dataset_id=104, dataset_name="PANORAMA_ROI")
    plans = ws.preprocessed_dataset(stage) / "nnUNetPlans.json"
    plans.parent.mkdir(parents=True)
    plans.write_text(json.dumps({"configurations": {"3d_fullres": {"batch_size": 2}}}))
    with pytest.raises(
        InvalidInputError,
        match=r"Dataset104_PANORAMA_ROI \(nnU-Net's plan\): batch size 2 < "
        r"run\.num_gpus 4.*4 or more.*one fold per GPU",
    ):
        train_fold(stage, RunConfig(device="cuda", num_gpus=4), ws, fold=0)
    assert not (tmp_path / "results").exists()  # refused before nnU-Net was given anything


def test_the_config_process_count_reaches_nnunet_only_when_set_before_its_import() -> None:
    """nnU-Net binds nnUNet_def_n_proc at import: set first, nnU-Net sees run.num_processes; set after an import,
    it cannot, and says so."""
    import os
    import subprocess
    import sys

    script = (
        "import logging, sys\n"
        "from pdacrad_train.config import RunConfig\n"
        "from pdacrad_train.nnunet_run import set_process_environment\n"
        "logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format='%(message)s')\n"
        "if sys.argv[1] == 'late':\n"
        "    import nnunetv2.configuration\n"
        "set_process_environment(RunConfig(num_processes=3))\n"
        "import nnunetv2.configuration as c\n"
        "print('nnunet', c.default_num_processes)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "nnUNet_def_n_proc"}
    runs = {
        when: subprocess.run(
            [sys.executable, "-c", script, when],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=120,
        ).stdout
        for when in ("first", "late")
    }
    assert runs["first"].strip().endswith("nnunet 3") and "cannot reach" not in runs["first"]
    assert "nnunet 8" in runs["late"] and "export nnUNet_def_n_proc=3" in runs["late"]


def test_the_configs_loss_is_recorded_in_the_fold_and_a_trained_fold_refuses_another(tmp_path: Path) -> None:
    from pdacrad_train.nnunet_run import record_training_options

    from pdacrad.nnunet_ext.training_options import TrainingOptions, read_training_options

    fold = tmp_path / "fold_0"
    ce = StageConfig(dataset_id=1, dataset_name="x", loss="ce")
    record_training_options(fold, ce)
    assert read_training_options(fold) == TrainingOptions(loss="ce")
    (fold / "checkpoint_latest.pth").write_bytes(b"")
    record_training_options(fold, ce)  # same loss: resumes
    with pytest.raises(InvalidInputError, match="trained with loss 'ce' but the config says 'dice_ce'"):
        record_training_options(fold, StageConfig(dataset_id=1, dataset_name="x"))
    # a fold trained before the options file existed was trained with nnU-Net's Dice + CE
    old = tmp_path / "fold_1"
    old.mkdir()
    (old / "checkpoint_final.pth").write_bytes(b"")
    record_training_options(old, StageConfig(dataset_id=1, dataset_name="x"))
    assert read_training_options(old) == TrainingOptions()
    (old / "pdacrad_training.json").unlink()
    with pytest.raises(InvalidInputError, match="trained with loss 'dice_ce'"):
        record_training_options(old, ce)


def test_plans_for_another_channel_count_are_made_again(tmp_path: Path, monkeypatch) -> None:
    """Issue 20 item 4: a map dataset whose selection now has another number of maps is planned afresh (new
    fingerprint too), not preprocessed with plans for the old channels; plans for the same channels are kept."""
    from nnunetv2.experiment_planning import plan_and_preprocess_api as api

    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):  # export_environment sets them
        monkeypatch.setenv(name, str(tmp_path / name))
    ws = Workspace(tmp_path, tmp_path / "cohort", *(tmp_path / n for n in ("raw", "pre", "res")))
    stage = StageConfig(dataset_id=1, dataset_name="x")
    raw, folder = ws.raw_dataset(stage), ws.preprocessed_dataset(stage)
    raw.mkdir(parents=True)
    folder.mkdir(parents=True)
    (raw / "dataset.json").write_text(json.dumps({"channel_names": {"0": "CT", "1": "original_glcm_Idm"}}))

    def plans_for(n_channels: int) -> str:
        plans = {
            **_plans(),
            "foreground_intensity_properties_per_channel": {str(c): {} for c in range(n_channels)},
        }
        return json.dumps(apply_plans_overrides(plans, stage))

    (folder / "nnUNetPlans.json").write_text(plans_for(1))  # planned when the selection had one map less
    (folder / "dataset_fingerprint.json").write_text("{}")
    calls: list[str] = []

    def fingerprint(dataset_id, **kwargs) -> None:
        calls.append("fingerprint")
        (folder / "dataset_fingerprint.json").write_text("{}")

    def plan(dataset_id, **kwargs) -> None:
        calls.append("plan")
        (folder / "nnUNetPlans.json").write_text(plans_for(2))

    monkeypatch.setattr(api, "extract_fingerprint_dataset", fingerprint)
    monkeypatch.setattr(api, "plan_experiment_dataset", plan)
    _plan_stage(stage, RunConfig(), ws)
    assert calls == ["fingerprint", "plan"]
    assert plans_channels(json.loads((folder / "nnUNetPlans.json").read_text())) == 2
    _plan_stage(stage, RunConfig(), ws)
    assert calls == ["fingerprint", "plan"]  # same channels: kept
