"""maps: map datasets = Stage-2 CT crops and labels (hard links) + map channels in radiomics.json order from a
per-feature cache shared between selections, normalised with a scaler fitted on the selection's training cases
inside their map masks (recorded with the dataset); Stage-1 masks (not labels) decide the maps; stale caches
recompute."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml
from pdacrad_train.config import load_config
from pdacrad_train.map_cache import map_features, map_path
from pdacrad_train.map_scaling import dataset_spec
from pdacrad_train.parallel import MapCompute
from pdacrad_train.steps.prepare import convert
from pdacrad_train.steps.radiomics.maps import MAPS_MANIFEST, channel_path, materialise_map_dataset, run_maps
from pdacrad_train.variants import maps_dataset
from pdacrad_train.workspace import workspace

from pdacrad.errors import InvalidInputError
from pdacrad.inference.radiomics_inputs import (
    MAP_DTYPE,
    compute_map_channels,
    map_mask,
    normalise_map_channels,
    on_grid,
    radiomics_pancreas,
)
from pdacrad.model.map_scaler import MapScaler
from pdacrad.model.radiomics_spec import Preprocessing, RadiomicsSpec

CONFIGS = Path(__file__).resolve().parents[4] / "training" / "configs"
MAPS = ("original_firstorder_Mean", "original_firstorder_Variance")
CASES = ("case_000", "case_001", "case_002")

#: The map settings of these tests: CPU, float64, one in-process worker thread.
IN_PROCESS = MapCompute("cpu", "float64", n_workers=1, processes=False)


def _spec(map_features: tuple[str, ...], dilation_mm: float = 5.0) -> RadiomicsSpec:
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
            "featureClass": {"firstorder": None},
        },
        preprocessing=Preprocessing(map_mask_dilation_mm=dilation_mm),
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
    # experiment.folds set here, not in the YAML: config.py's loader cannot parse tuple[int, ...] yet
    config = dataclasses.replace(config, experiment=dataclasses.replace(config.experiment, folds=(0, 1)))
    ws = workspace(config)
    convert(config, ws, progress=False)
    return config, ws


def _mask(ws, config, case: str, pancreas_full: sitk.Image, spec: RadiomicsSpec) -> sitk.Image:
    ct = sitk.ReadImage(str(channel_path(ws.raw_dataset(config.stage2) / "imagesTr", case, 0)))
    return map_mask(on_grid(radiomics_pancreas(pancreas_full), ct), spec.preprocessing.map_mask_dilation_mm)


def _raw_maps(ws, config, case: str, pancreas_full: sitk.Image, spec: RadiomicsSpec) -> list[np.ndarray]:
    """The maps inference would compute for this case and Stage-1 mask, before normalisation."""
    ct = sitk.ReadImage(str(channel_path(ws.raw_dataset(config.stage2) / "imagesTr", case, 0)))
    return compute_map_channels(ct, _mask(ws, config, case, pancreas_full, spec), spec, "cpu")


def _scaler(ws, config, cases, masks: dict[str, sitk.Image], spec: RadiomicsSpec) -> MapScaler:
    """The scaler fitted independently: every in-mask value of ``cases`` (each case's mask is far below the
    per-case sample size)."""
    values: list[list[np.ndarray]] = [[] for _ in spec.map_features]
    for case in cases:
        inside = sitk.GetArrayFromImage(_mask(ws, config, case, masks[case], spec)) != 0
        assert inside.sum() < 10_000
        for i, array in enumerate(_raw_maps(ws, config, case, masks[case], spec)):
            values[i].append(array[inside].astype(np.float64))
    return MapScaler.fit([np.concatenate(v) for v in values])


def _assert_scaler(scaler: MapScaler | None, expected: MapScaler) -> None:
    assert scaler is not None
    for name in ("lower", "upper", "mean", "std"):
        np.testing.assert_allclose(getattr(scaler, name), getattr(expected, name), rtol=1e-9, err_msg=name)


def _expected(ws, config, case: str, pancreas_full: sitk.Image, spec: RadiomicsSpec) -> list[np.ndarray]:
    """The map channels inference feeds the model for this case and Stage-1 mask (``spec`` with its scaler)."""
    mask = _mask(ws, config, case, pancreas_full, spec)
    return normalise_map_channels(_raw_maps(ws, config, case, pancreas_full, spec), mask, spec)


def _gt_pancreas(ws, case: str) -> sitk.Image:
    label = sitk.ReadImage(str(ws.cohort / "labelsTr" / f"{case}.nii.gz"))
    return sitk.Cast(sitk.BinaryThreshold(label, 1, 1) | sitk.BinaryThreshold(label, 4, 5), sitk.sitkUInt8)


def _read(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def _mtimes(paths: list[Path]) -> list[int]:
    return [p.stat().st_mtime_ns for p in paths]


def test_map_dataset_links_stage2_and_adds_cached_maps_in_order(converted, caplog):
    config, ws = converted
    target = maps_dataset(config, "pooled", None)
    with pytest.raises(InvalidInputError, match="--allow-gt-masks"):
        materialise_map_dataset(config, ws, _spec(MAPS), target, IN_PROCESS)
    with caplog.at_level(logging.WARNING, logger="pdacrad_train"):
        raw = materialise_map_dataset(config, ws, _spec(MAPS), target, IN_PROCESS, allow_gt_masks=True)
    assert "GROUND TRUTH" in caplog.text and raw == ws.raw_dataset(target) != ws.raw_dataset(config.stage2)

    source = ws.raw_dataset(config.stage2)
    dataset = json.loads((raw / "dataset.json").read_text())
    assert dataset["channel_names"] == {"0": "CT", "1": MAPS[0], "2": MAPS[1]}
    assert dataset["labels"] == json.loads((source / "dataset.json").read_text())["labels"]
    assert json.loads((source / "dataset.json").read_text())["channel_names"] == {"0": "CT"}  # untouched
    images = raw / "imagesTr"
    assert sorted(p.name for p in images.iterdir()) == sorted(
        f"{c}_{k:04d}.nii.gz" for c in CASES for k in range(3)
    ), "nothing but the channels in imagesTr"
    made = dataset_spec(raw)
    gt = {case: _gt_pancreas(ws, case) for case in CASES}
    assert made is not None and made.map_features == MAPS and made.map_scaler is not None
    _assert_scaler(made.map_scaler, _scaler(ws, config, CASES, gt, _spec(MAPS)))
    for case in CASES:
        ct = channel_path(images, case, 0)
        assert os.path.samefile(ct, channel_path(source / "imagesTr", case, 0))
        assert os.path.samefile(raw / "labelsTr" / f"{case}.nii.gz", source / "labelsTr" / f"{case}.nii.gz")
        expected = _expected(ws, config, case, gt[case], made)
        reference = sitk.ReadImage(str(ct))
        for channel in (1, 2):
            written = sitk.ReadImage(str(channel_path(images, case, channel)))
            assert written.GetSize() == reference.GetSize() and written.GetOrigin() == reference.GetOrigin()
            assert written.GetSpacing() == reference.GetSpacing()
            assert written.GetPixelID() == sitk.sitkFloat32
            np.testing.assert_allclose(sitk.GetArrayFromImage(written), expected[channel - 1], atol=1e-6)
        inside = sitk.GetArrayFromImage(_mask(ws, config, case, gt[case], made)) != 0
        assert np.all(_read(channel_path(images, case, 1))[~inside] == 0), "0 outside the map mask"
        local_mean = _raw_maps(ws, config, case, gt[case], made)[0]
        assert local_mean.max() > 50 and np.abs(_read(channel_path(images, case, 1))).max() < 10, "scaled HU"

    # Resumable: nothing recomputed or relinked. Another selection sharing the features reuses their maps.
    files = [channel_path(images, c, k) for c in CASES for k in (1, 2)]
    before = _mtimes(files)
    cache = ws.map_cache
    cached = sorted(cache.glob("*/*.nii.gz"))
    materialise_map_dataset(config, ws, _spec(MAPS), target, IN_PROCESS, allow_gt_masks=True)
    assert _mtimes(files) == before
    fold0 = maps_dataset(config, "per-fold", 0)
    other = materialise_map_dataset(config, ws, _spec(MAPS[::-1]), fold0, IN_PROCESS, allow_gt_masks=True)
    assert sorted(cache.glob("*/*.nii.gz")) == cached and _mtimes(cached) == _mtimes(sorted(cached))
    np.testing.assert_array_equal(  # same feature, same fit cases: the same channel in either order
        _read(channel_path(other / "imagesTr", "case_002", 1)), _read(channel_path(images, "case_002", 2))
    )
    # Fitted on one case only, the scaler and so the channels differ.
    single = materialise_map_dataset(
        config, ws, _spec(MAPS), fold0, IN_PROCESS, allow_gt_masks=True, fit_cases=["case_001"]
    )
    _assert_scaler(dataset_spec(single).map_scaler, _scaler(ws, config, ["case_001"], gt, _spec(MAPS)))
    assert dataset_spec(single).map_scaler != made.map_scaler
    with pytest.raises(InvalidInputError, match=r"not among the training cases, e\.g\. case_999"):
        materialise_map_dataset(
            config, ws, _spec(MAPS), fold0, IN_PROCESS, allow_gt_masks=True, fit_cases=["case_999"]
        )
    # A shorter list drops the extra channel; a different dilation is another cache entry.
    materialise_map_dataset(config, ws, _spec(MAPS[:1], 2.0), fold0, IN_PROCESS, allow_gt_masks=True)
    assert not channel_path(other / "imagesTr", "case_000", 2).exists()
    assert len(list(cache.glob("*/*.nii.gz"))) == len(cached) + len(CASES)
    assert json.loads((other / "dataset.json").read_text())["channel_names"] == {"0": "CT", "1": MAPS[0]}


def test_oof_masks_not_labels_decide_the_maps_and_new_masks_recompute(converted):
    config, ws = converted
    spec = _spec(MAPS[:1])
    target = maps_dataset(config, "pooled", None)
    # Stage-1 out-of-fold masks that differ from the labels: the left half of the pancreas (a second blob in a
    # corner, which the largest-component rule drops).
    oofs = {}
    ws.stage1_oof.mkdir(parents=True)
    for case in CASES:
        array = sitk.GetArrayFromImage(_gt_pancreas(ws, case))
        xs = np.flatnonzero(array.any(axis=(0, 1)))
        array[:, :, xs[0] + (len(xs) + 1) // 2 :] = 0
        array[0, 0, 0] = 1
        oof = sitk.GetImageFromArray(array * 7)
        oof.CopyInformation(_gt_pancreas(ws, case))
        sitk.WriteImage(oof, str(ws.stage1_oof / f"{case}.nii.gz"))
        oofs[case] = oof
    (ws.stage1_oof / "case_001.nii.gz").rename(ws.root / "aside.nii.gz")
    with pytest.raises(InvalidInputError, match=r"lacks 1 of 3 case\(s\): case_001"):
        materialise_map_dataset(config, ws, spec, target, IN_PROCESS, allow_gt_masks=True)
    (ws.root / "aside.nii.gz").rename(ws.stage1_oof / "case_001.nii.gz")

    raw = materialise_map_dataset(config, ws, spec, target, IN_PROCESS, allow_gt_masks=True)
    assert "out-of-fold" in json.loads((raw / MAPS_MANIFEST).read_text())["mask_source"]
    made = dataset_spec(raw)
    assert made is not None
    _assert_scaler(made.map_scaler, _scaler(ws, config, CASES, oofs, spec))
    for case in CASES:
        written = _read(channel_path(raw / "imagesTr", case, 1))
        np.testing.assert_allclose(written, _expected(ws, config, case, oofs[case], made)[0], atol=1e-6)
        from_labels = _raw_maps(ws, config, case, _gt_pancreas(ws, case), spec)[0]
        assert np.count_nonzero(written) < np.count_nonzero(from_labels), "half a pancreas, smaller map"

    # A new Stage-1 model rewrites one mask: that case's map is recomputed (stale cache), the others' cached maps
    # are kept; the scaler is refitted with the new mask, so every case's channel is rewritten with it.
    digest = json.loads((raw / MAPS_MANIFEST).read_text())["digest"]
    cached = [map_path(ws.map_cache, map_features(spec, MAP_DTYPE)[0], c) for c in CASES]
    before = _mtimes(cached)
    sitk.WriteImage(_gt_pancreas(ws, "case_001"), str(ws.stage1_oof / "case_001.nii.gz"))
    materialise_map_dataset(config, ws, spec, target, IN_PROCESS)
    changed = [f.name for f, old, new in zip(cached, before, _mtimes(cached), strict=True) if old != new]
    assert changed == ["case_001.nii.gz"]
    oofs["case_001"] = _gt_pancreas(ws, "case_001")
    made = dataset_spec(raw)
    assert made is not None
    _assert_scaler(made.map_scaler, _scaler(ws, config, CASES, oofs, spec))
    np.testing.assert_allclose(
        _read(channel_path(raw / "imagesTr", "case_001", 1)),
        _expected(ws, config, "case_001", oofs["case_001"], made)[0],
        atol=1e-6,
    )
    assert json.loads((raw / MAPS_MANIFEST).read_text())["digest"] != digest


def test_maps_step_builds_one_dataset_per_fold_sharing_the_cache(converted, caplog):
    config, ws = converted
    config = dataclasses.replace(
        config, experiment=dataclasses.replace(config.experiment, allow_gt_masks=True)
    )
    with pytest.raises(InvalidInputError, match=r"fold_0.*selection\.mode per-fold"):
        run_maps(config, ws, IN_PROCESS, "per-fold")
    _spec(MAPS).save(ws.selection_dir(0) / "radiomics.json")
    _spec(MAPS[1:]).save(ws.selection_dir(1) / "radiomics.json")
    _spec(MAPS[:1]).save(ws.selection_dir(2) / "radiomics.json")  # fold 2 is not in experiment.folds
    with pytest.raises(InvalidInputError, match="splits"):
        run_maps(config, ws, IN_PROCESS, "per-fold")
    splits = [
        {"train": ["case_000", "case_001"], "val": ["case_002"]},
        {"train": ["case_002"], "val": ["case_000", "case_001"]},
    ]
    ws.splits_file(config.stage2).parent.mkdir(parents=True, exist_ok=True)
    ws.splits_file(config.stage2).write_text(json.dumps(splits))
    datasets = run_maps(config, ws, IN_PROCESS, "per-fold")
    assert datasets == {k: ws.raw_dataset(maps_dataset(config, "per-fold", k)) for k in (0, 1)}
    assert json.loads((datasets[1] / "dataset.json").read_text())["channel_names"] == {
        "0": "CT",
        "1": MAPS[1],
    }
    # The Variance map of every case was computed once and serves both folds, each scaled with its own training
    # cases' statistics.
    assert len(list(ws.map_cache.glob("*/*.nii.gz"))) == 2 * len(CASES)
    gt = {case: _gt_pancreas(ws, case) for case in CASES}
    for k, (dataset, spec) in enumerate(((datasets[0], _spec(MAPS)), (datasets[1], _spec(MAPS[1:])))):
        made = dataset_spec(dataset)
        assert made is not None
        _assert_scaler(made.map_scaler, _scaler(ws, config, splits[k]["train"], gt, spec))
    variance = [dataset_spec(d).map_scaler for d in (datasets[0], datasets[1])]
    assert variance[0].mean[1] != variance[1].mean[0], "fold-specific statistics"


def test_stage2_itself_can_take_the_maps_in_place(converted):
    """target = config.stage2 (the layout before map datasets existed): CT and labels stay, channels are added."""
    config, ws = converted
    raw = ws.raw_dataset(config.stage2)
    ct_before = _mtimes([channel_path(raw / "imagesTr", c, 0) for c in CASES])
    for _ in range(2):
        materialise_map_dataset(config, ws, _spec(MAPS), config.stage2, IN_PROCESS, allow_gt_masks=True)
    assert _mtimes([channel_path(raw / "imagesTr", c, 0) for c in CASES]) == ct_before
    dataset = json.loads((raw / "dataset.json").read_text())
    assert dataset["channel_names"] == {"0": "CT", "1": MAPS[0], "2": MAPS[1]}
    assert dataset["description"].count("parametric maps") == 1
    assert all(channel_path(raw / "imagesTr", c, 2).is_file() for c in CASES)


def test_steps_on_the_command_line_name_what_is_missing(converted, tmp_path):
    """Exit 2 with one line naming what to run: no Stage-1 masks (and no --allow-gt-masks), no features table,
    no selection for the experiment's folds."""
    from pdacrad_train.cli import app
    from typer.testing import CliRunner

    runner, config_file = CliRunner(), str(tmp_path / "tiny.yaml")
    result = runner.invoke(app, ["global-features", "--config", config_file])
    assert (
        result.exit_code == 2
        and "stage1_oof is empty" in result.output
        and "--allow-gt-masks" in result.output
    )
    result = runner.invoke(app, ["select", "--config", config_file, "--mode", "pooled"])
    assert result.exit_code == 2 and "global-features" in result.output
    result = runner.invoke(app, ["maps", "--config", config_file, "--allow-gt-masks"])
    assert result.exit_code == 2 and "fold_0" in result.output and "select" in result.output
