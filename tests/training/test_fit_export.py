"""The whole baseline tree through its CLI on three tiny phantoms: convert → splits → fit (a few nnU-Net
iterations of a tiny network) → export; then the exported folder's manifest and its use by nnU-Net's predictor."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml
from pdacrad_train.cli import app
from typer.testing import CliRunner

from pdacrad.errors import ResourceError
from pdacrad.model.manifest import verify_resources
from tests.training.conftest import TINY_STAGE as TINY

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"
TINY_STAGE = {**TINY, "trainer": "nnUNetTrainerSmoke"}


def _invoke(*args: str) -> None:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, phantom_writer) -> Iterator[tuple[Path, Path]]:
    """(config path, exported resources folder) after running every baseline step once."""
    root = tmp_path_factory.mktemp("tree")
    cohort = root / "cohort"
    for i in range(3):
        phantom_writer(cohort, f"case_{i:03d}", lesion_radius_vox=i, seed=i)
    data = yaml.safe_load((CONFIGS / "synthetic-demo.yaml").read_text())
    data["cohort"] = {"source": "folder", "path": str(cohort)}
    data["work_dir"] = str(root / "work")
    data["splits"]["n_folds"] = 3
    data["stage1"].update(TINY_STAGE, fold=0)
    data["stage2"].update(TINY_STAGE, fold="all", margins_mm_xyz=[10.0, 5.0, 4.0])
    data["run"]["torch_threads"] = 1
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(data))
    with pytest.MonkeyPatch.context() as mp:
        for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):  # restored on exit
            mp.setenv(name, str(root / "work" / name))
        mp.delenv("nnUNet_n_proc_DA", raising=False)
        for step in ("convert", "splits", "fit"):
            _invoke(step, "--config", str(config))
        _invoke("export", "--config", str(config), "--out", str(root / "resources"))
        yield config, root / "resources"


@pytest.mark.slow
def test_fit_trains_with_the_configured_plans(trained: tuple[Path, Path]) -> None:
    config, _ = trained
    work = config.parent / "work"
    model = (
        work
        / "nnUNet_results"
        / "Dataset901_PdacradStage1Demo"
        / "nnUNetTrainerSmoke__nnUNetPlans__3d_fullres"
    )
    assert (model / "fold_0" / "checkpoint_final.pth").is_file()
    plans = json.loads((model / "plans.json").read_text())
    assert list(plans["configurations"]) == ["3d_fullres"]
    conf = plans["configurations"]["3d_fullres"]
    assert conf["spacing"] == [4.0, 2.5, 2.0] and conf["patch_size"] == [8, 32, 32]
    assert conf["architecture"]["arch_kwargs"]["features_per_stage"] == [4, 8, 16]
    splits = json.loads(
        (work / "nnUNet_preprocessed" / "Dataset901_PdacradStage1Demo" / "splits_final.json").read_text()
    )
    log = next((model / "fold_0").glob("training_log_*.txt")).read_text()
    # nnU-Net used our splits_final.json (fold 0 of 3 folds over 3 cases), not a split of its own.
    assert f"This split has {len(splits[0]['train'])} training and {len(splits[0]['val'])} validation" in log
    # A second run finds every output and does nothing (resumable).
    _invoke("fit", "--config", str(config))
    assert len(list((model / "fold_0").glob("training_log_*.txt"))) == 1


@pytest.mark.slow
def test_export_layout_and_manifest(trained: tuple[Path, Path]) -> None:
    _, resources = trained
    manifest = json.loads((resources / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and manifest["demo"] is True
    assert manifest["training_config"].endswith("tiny.yaml")
    files = {p.relative_to(resources).as_posix() for p in resources.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == files - {"manifest.json"}
    assert {"stage1/plans.json", "stage1/dataset.json", "stage1/fold_0/checkpoint_final.pth"} <= files
    assert "stage2/fold_all/checkpoint_final.pth" in files
    import torch

    checkpoint = torch.load(resources / "stage1/fold_0/checkpoint_final.pth", weights_only=False)
    assert "optimizer_state" not in checkpoint and checkpoint["trainer_name"] == "nnUNetTrainerSmoke"
    verify_resources(resources)


@pytest.mark.slow
def test_a_failed_export_leaves_the_package_that_was_there(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    """A missing checkpoint is found before anything is replaced: the old package stays whole, byte for byte,
    and no partial folder is left beside it."""
    config, resources = trained
    before = {p.relative_to(resources): p.read_bytes() for p in resources.rglob("*") if p.is_file()}
    data = yaml.safe_load(config.read_text())
    data["export"] = {**(data.get("export") or {}), "checkpoint": "checkpoint_missing.pth"}
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(app, ["export", "--config", str(broken), "--out", str(resources)])
    assert result.exit_code == 2 and "checkpoint_missing.pth" in result.output
    after = {p.relative_to(resources): p.read_bytes() for p in resources.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in resources.parent.iterdir() if p.name.startswith(".")) == []
    verify_resources(resources)


@pytest.mark.slow
def test_changing_one_byte_fails_verification(trained: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    _, resources = trained
    copy = tmp_path / "resources"
    shutil.copytree(resources, copy)
    target = copy / "stage2" / "plans.json"
    data = bytearray(target.read_bytes())
    data[10] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(ResourceError, match=r"stage2/plans\.json"):
        verify_resources(copy)


@pytest.mark.slow
def test_exported_stage1_predicts_a_full_resolution_ct_in_its_own_geometry(
    trained: tuple[Path, Path], tmp_path: Path, phantom_writer
) -> None:
    """The inference contract: nnU-Net's predictor loads the exported folder (trainer found through
    nnUNet_extTrainer) and resamples a CT at its native spacing itself; the output has the input's grid."""
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    from pdacrad.nnunet_ext import register_trainers

    _, resources = trained
    register_trainers()
    predictor = nnUNetPredictor(
        tile_step_size=0.5,
        use_mirroring=False,
        perform_everything_on_device=False,
        device=torch.device("cpu"),
    )
    predictor.initialize_from_trained_model_folder(str(resources / "stage1"), use_folds=(0,))
    phantom_writer(tmp_path, "new", size_xyz=(60, 44, 12), spacing_xyz=(1.0, 1.25, 3.0), seed=7)
    ct = sitk.ReadImage(str(tmp_path / "imagesTr" / "new_0000.nii.gz"))
    array = sitk.GetArrayFromImage(ct).astype(np.float32)[None]
    properties = {"spacing": list(ct.GetSpacing()[::-1])}
    segmentation = predictor.predict_single_npy_array(array, properties)
    assert segmentation.shape == array.shape[1:]
    assert set(np.unique(segmentation)) <= {0, 1}


@pytest.mark.slow
def test_fit_extends_a_finished_run_when_the_schedule_grows(
    trained: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs last: it trains the module's model one epoch further."""
    import torch

    from pdacrad.nnunet_ext.variants.schedules import nnUNetTrainerSmoke

    config, _ = trained
    final = (
        config.parent
        / "work/nnUNet_results/Dataset901_PdacradStage1Demo/nnUNetTrainerSmoke__nnUNetPlans__3d_fullres"
        / "fold_0/checkpoint_final.pth"
    )
    assert torch.load(final, weights_only=False)["current_epoch"] == 1
    monkeypatch.setattr(nnUNetTrainerSmoke, "EPOCHS", 2)
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.setenv(name, str(config.parent / "work" / name))
    monkeypatch.delenv("nnUNet_n_proc_DA", raising=False)
    _invoke("fit", "--config", str(config), "--stage", "1")
    assert torch.load(final, weights_only=False)["current_epoch"] == 2
