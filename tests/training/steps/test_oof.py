"""Out-of-fold Stage-1 masks: collected from each fold's nnU-Net validation predictions, complete or not at all."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml
from pdacrad_train.config import load_config
from pdacrad_train.steps.oof import PROVENANCE, collect_oof_masks
from pdacrad_train.workspace import workspace

from pdacrad.errors import InvalidInputError

CONFIGS = Path(__file__).resolve().parents[3] / "training" / "configs"


@pytest.fixture
def fake_run(tmp_path: Path, tiny_cohort: Path, monkeypatch: pytest.MonkeyPatch):
    """A work folder whose two Stage-1 folds 'validated' their cases: prediction = ground-truth pancreas with
    label 1, except one voxel more (so the masks are recognisably the predictions, not the labels)."""
    data = yaml.safe_load((CONFIGS / "synthetic-demo.yaml").read_text())
    data["cohort"] = {"source": "folder", "path": str(tiny_cohort)}
    data["work_dir"] = str(tmp_path / "work")
    data["splits"]["n_folds"] = 2
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(data))
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):  # the work folder's own
        monkeypatch.delenv(name, raising=False)
    config = load_config(tmp_path / "c.yaml")
    ws = workspace(config)
    splits = [
        {"train": ["case_002"], "val": ["case_000", "case_001"]},
        {"train": ["case_000", "case_001"], "val": ["case_002"]},
    ]
    (ws.preprocessed_dataset(config.stage1)).mkdir(parents=True)
    (ws.preprocessed_dataset(config.stage1) / "splits_final.json").write_text(json.dumps(splits))

    def validate(fold: int) -> None:
        folder = ws.fold_folder(config.stage1, fold)
        (folder / "validation").mkdir(parents=True)
        (folder / "checkpoint_final.pth").write_bytes(b"x")
        (folder / "validation" / "summary.json").write_text("{}")
        for case in splits[fold]["val"]:
            label = sitk.ReadImage(str(tiny_cohort / "labelsTr" / f"{case}.nii.gz"))
            array = np.isin(sitk.GetArrayFromImage(label), (1, 4, 5)).astype(np.uint8)
            array[0, 0, 0] = 1
            prediction = sitk.GetImageFromArray(array)
            prediction.CopyInformation(label)
            sitk.WriteImage(prediction, str(folder / "validation" / f"{case}.nii.gz"))

    return config, ws, validate


def test_every_case_gets_the_mask_of_the_fold_that_held_it_out(fake_run) -> None:
    config, ws, validate = fake_run
    validate(0)
    validate(1)
    out = collect_oof_masks(config, ws)
    provenance = json.loads((out / PROVENANCE).read_text())
    assert {c: p["fold"] for c, p in provenance.items()} == {"case_000": 0, "case_001": 0, "case_002": 1}
    for case in ("case_000", "case_001", "case_002"):
        mask = sitk.ReadImage(str(out / f"{case}.nii.gz"))
        ct = sitk.ReadImage(str(ws.cohort / "imagesTr" / f"{case}_0000.nii.gz"))
        array = sitk.GetArrayFromImage(mask)
        assert mask.GetPixelID() == sitk.sitkUInt8 and set(np.unique(array)) == {0, 1}
        assert array[0, 0, 0] == 1  # the prediction's extra voxel: the mask is the prediction, not the label
        assert mask.GetSize() == ct.GetSize() and np.allclose(mask.GetOrigin(), ct.GetOrigin())


def test_a_missing_fold_writes_nothing_and_names_the_command(fake_run) -> None:
    config, ws, validate = fake_run
    validate(0)
    with pytest.raises(InvalidInputError, match=r"fold\(s\) \[1\].*--steps stage1 --folds 1"):
        collect_oof_masks(config, ws)
    assert not ws.stage1_oof.exists() or not any(ws.stage1_oof.glob("*.nii.gz"))


def test_a_retrained_fold_replaces_only_its_own_masks(fake_run) -> None:
    config, ws, validate = fake_run
    validate(0)
    validate(1)
    out = collect_oof_masks(config, ws)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.nii.gz")}
    source = ws.fold_folder(config.stage1, 1) / "validation" / "case_002.nii.gz"
    image = sitk.ReadImage(str(source))
    array = sitk.GetArrayFromImage(image)
    array[1, 1, 1] = 1
    changed = sitk.GetImageFromArray(array)
    changed.CopyInformation(image)
    sitk.WriteImage(changed, str(source))
    collect_oof_masks(config, ws)
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.nii.gz")}
    assert [n for n in before if before[n] != after[n]] == ["case_002.nii.gz"]
    assert sitk.GetArrayFromImage(sitk.ReadImage(str(out / "case_002.nii.gz")))[1, 1, 1] == 1
