"""maps: channels in radiomics.json order on the ROI grid, dataset.json channel names, resumable per case."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml
from pdacrad_train.config import load_config
from pdacrad_train.convert import convert
from pdacrad_train.global_features import feature_folder
from pdacrad_train.maps_step import channel_path, run_maps
from pdacrad_train.workspace import workspace

from pdacrad.errors import InvalidInputError
from pdacrad.inference.radiomics_inputs import compute_map_channels, map_mask
from pdacrad.radiomics_spec import RadiomicsSpec

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"
MAPS = ("original_firstorder_Mean", "original_glcm_Idm")


def _spec(map_features: tuple[str, ...]) -> RadiomicsSpec:
    setting = {"binWidth": 25, "label": 1}
    return RadiomicsSpec(
        params={"setting": setting, "imageType": {"Original": {}}, "featureClass": {"firstorder": ["Mean"]}},
        global_features=("original_firstorder_Mean",),
        mean=(100.0,),
        std=(10.0,),
        map_features=map_features,
        map_params={
            "setting": setting,
            "voxelSetting": {"kernelRadius": 1, "maskedKernel": True, "initValue": 0.0},
            "imageType": {"Original": {}},
            "featureClass": {"firstorder": ["Mean"], "glcm": ["Idm"]},
        },
    )


@pytest.fixture
def converted(tmp_path: Path, tiny_cohort: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.delenv(name, raising=False)
    data = yaml.safe_load((CONFIGS / "synthetic-demo.yaml").read_text())
    data["cohort"] = {"source": "folder", "path": str(tiny_cohort)}
    data["work_dir"] = str(tmp_path / "work")
    data["stage2"]["margins_mm_xyz"] = [10.0, 5.0, 4.0]
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(data))
    config = load_config(tmp_path / "tiny.yaml")
    ws = workspace(config)
    convert(config, ws, progress=False)
    return config, ws


def _mtimes(paths: list[Path]) -> list[int]:
    return [p.stat().st_mtime_ns for p in paths]


def test_maps_are_roi_channels_in_radiomics_json_order_and_resumable(converted, caplog):
    config, ws = converted
    spec_path = feature_folder(ws) / "radiomics.json"
    _spec(MAPS).save(spec_path)
    with caplog.at_level(logging.WARNING, logger="pdacrad_train"):
        first = run_maps(config, ws, processes=False)
    assert "GROUND-TRUTH pancreas" in caplog.text
    assert first["computed"] == 3 and first["cached"] == 0 and first["map_features"] == list(MAPS)

    raw = ws.raw_dataset(config.stage2)
    images = raw / "imagesTr"
    assert json.loads((raw / "dataset.json").read_text())["channel_names"] == {
        "0": "CT",
        "1": MAPS[0],
        "2": MAPS[1],
    }
    assert not list(images.glob("*part*")), "no temporary files inside imagesTr"
    for case in ("case_000", "case_001", "case_002"):
        ct = sitk.ReadImage(str(channel_path(images, case, 0)))
        label = sitk.ReadImage(str(raw / "labelsTr" / f"{case}.nii.gz"))
        pancreas = sitk.Cast(
            sitk.BinaryThreshold(label, 1, 1) | sitk.BinaryThreshold(label, 4, 5), sitk.sitkUInt8
        )
        expected = compute_map_channels(ct, map_mask(pancreas), _spec(MAPS), "cpu")
        for channel, name in enumerate(MAPS, start=1):
            written = sitk.ReadImage(str(channel_path(images, case, channel)))
            assert written.GetSize() == ct.GetSize() and written.GetSpacing() == ct.GetSpacing()
            assert written.GetOrigin() == ct.GetOrigin() and written.GetDirection() == ct.GetDirection()
            assert written.GetPixelID() == sitk.sitkFloat32, name
            np.testing.assert_array_equal(sitk.GetArrayFromImage(written), expected[channel - 1])
        mean_map = sitk.GetArrayFromImage(sitk.ReadImage(str(channel_path(images, case, 1))))
        assert mean_map.max() > 50, "channel 1 is the local mean in HU (pancreas ~110 HU)"

    files = [channel_path(images, c, k) for c in ("case_000", "case_001", "case_002") for k in (1, 2)]
    before = _mtimes(files)
    again = run_maps(config, ws, processes=False)
    assert (again["computed"], again["cached"]) == (0, 3) and _mtimes(files) == before
    (feature_folder(ws) / "maps" / "case_001.json").unlink()  # as if killed before its stamp
    assert run_maps(config, ws, processes=False)["computed"] == 1
    changed = [f.name for f, old, new in zip(files, before, _mtimes(files), strict=True) if old != new]
    assert changed == ["case_001_0001.nii.gz", "case_001_0002.nii.gz"]

    # A new radiomics.json order recomputes everything and swaps the channels; a shorter list drops channel 2.
    idm = sitk.GetArrayFromImage(sitk.ReadImage(str(channel_path(images, "case_002", 2))))
    _spec(MAPS[::-1]).save(spec_path)
    assert run_maps(config, ws, processes=False)["computed"] == 3
    np.testing.assert_array_equal(
        sitk.GetArrayFromImage(sitk.ReadImage(str(channel_path(images, "case_002", 1)))), idm
    )
    _spec(MAPS[:1]).save(spec_path)
    run_maps(config, ws, processes=False)
    assert not channel_path(images, "case_000", 2).exists()
    assert json.loads((raw / "dataset.json").read_text())["channel_names"] == {"0": "CT", "1": MAPS[0]}


def test_stage1_masks_win_and_missing_inputs_are_named(converted, tmp_path):
    config, ws = converted
    with pytest.raises(InvalidInputError, match="select"):
        run_maps(config, ws, processes=False)
    _spec(MAPS[:1]).save(feature_folder(ws) / "radiomics.json")
    masks = tmp_path / "stage1_masks"
    masks.mkdir()
    with pytest.raises(InvalidInputError, match=r"case_000\.nii\.gz"):
        run_maps(config, ws, masks=masks, processes=False)
    # Stage-1 masks on the full CT grid: one voxel of pancreas per case → a small dilated box on the ROI
    for case in ("case_000", "case_001", "case_002"):
        ct = sitk.ReadImage(str(ws.cohort / "imagesTr" / f"{case}_0000.nii.gz"))
        roi_ct = sitk.ReadImage(str(channel_path(ws.raw_dataset(config.stage2) / "imagesTr", case, 0)))
        centre = ct.TransformPhysicalPointToIndex(
            roi_ct.TransformIndexToPhysicalPoint([s // 2 for s in roi_ct.GetSize()])
        )
        mask = sitk.Image(ct.GetSize(), sitk.sitkUInt8)
        mask.CopyInformation(ct)
        mask[centre] = 7
        sitk.WriteImage(mask, str(masks / f"{case}.nii.gz"))
    run_maps(config, ws, masks=masks, processes=False)
    stamp = json.loads((feature_folder(ws) / "maps" / "case_001.json").read_text())
    roi_ct = sitk.ReadImage(str(channel_path(ws.raw_dataset(config.stage2) / "imagesTr", "case_001", 0)))
    radius = [round(5.0 / s) for s in roi_ct.GetSpacing()]
    assert stamp["mask_voxels"] == int(np.prod([2 * r + 1 for r in radius]))
    images = ws.raw_dataset(config.stage2) / "imagesTr"
    written = sitk.GetArrayFromImage(sitk.ReadImage(str(channel_path(images, "case_001", 1))))
    assert np.count_nonzero(written) <= stamp["mask_voxels"] and np.count_nonzero(written) > 0
