"""CV prediction computes a map variant's maps on the Dask cluster into ``prediction_map_cache`` with the configured
device and precision, and the global features the ``global-features`` cache lacks there too; the predictions equal
those of the pipeline computing both itself; a rerun, another checkpoint set or the other map variant of the fold
reuse the cached maps (nothing computed), and a new out-of-fold mask recomputes that case only.

A folder of CV predictions has a record of what it was predicted from (beside it: the folder holds its cases
only); predictions from other inputs are deleted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
from pdacrad_train import cv_prediction
from pdacrad_train.config import load_config
from pdacrad_train.cv_prediction import (
    discard_stale_predictions,
    predict_validation_cases,
    prediction_maps,
    prediction_record,
)
from pdacrad_train.parallel import MapCompute
from pdacrad_train.variants import stage2_for
from pdacrad_train.workspace import workspace

from pdacrad.inference import radiomics_inputs
from pdacrad.inference.radiomics_inputs import MAP_DTYPE
from pdacrad.io.predictions import DETECTION_MAP_NAME, LIKELIHOOD_NAME
from pdacrad.labels import PANCREAS_LABELS
from pdacrad.model.manifest import RADIOMICS_NAME
from pdacrad.model.radiomics_spec import RadiomicsSpec
from pdacrad.synth.cohort import generate_case
from tests.inference.conftest import write_variant_resources

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"
IN_PROCESS = MapCompute("cpu", MAP_DTYPE, n_workers=1, processes=False)
CASES = ("cv_000", "cv_001")
CHECKPOINT = "checkpoint_final.pth"


@pytest.fixture(scope="module")
def fold(tmp_path_factory: pytest.TempPathFactory):
    """A work folder whose ``both`` fold 0 is a random Stage-2 model with two map channels and the global vector,
    validated on two synthetic cases with out-of-fold masks = their pancreas; returns (config, ws, spec)."""
    root = tmp_path_factory.mktemp("cv")
    mp = pytest.MonkeyPatch()
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        mp.delenv(name, raising=False)
    config = load_config(CONFIGS / "synthetic-demo.yaml", root / "work")
    ws = workspace(config)
    (ws.cohort / "imagesTr").mkdir(parents=True)
    ws.stage1_oof.mkdir(parents=True)
    for seed, case in enumerate(CASES):
        ct, labels, _ = generate_case(
            case, 20 + seed, True, "texture", size_xyz=(96, 96, 32), spacing_xyz_mm=(1.2, 1.2, 3.0)
        )
        mask = sitk.GetImageFromArray(
            np.isin(sitk.GetArrayFromImage(labels), PANCREAS_LABELS).astype(np.uint8)
        )
        mask.CopyInformation(labels)
        sitk.WriteImage(ct, str(ws.cohort_image(case)))
        sitk.WriteImage(mask, str(ws.oof_mask(case)))
    resources = write_variant_resources(root / "resources", "both")
    stage = stage2_for(config, "both", 0, "per-fold")
    model = ws.model_folder(stage)
    shutil.copytree(resources / "stage2", model)
    spec = RadiomicsSpec.load(resources / RADIOMICS_NAME)
    spec.save(ws.fold_folder(stage, 0) / RADIOMICS_NAME)
    ws.splits_file(config.stage2).parent.mkdir(parents=True, exist_ok=True)
    ws.splits_file(config.stage2).write_text(json.dumps([{"train": [], "val": list(CASES)}]))
    yield config, ws, spec
    mp.undo()


@pytest.fixture
def map_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """``(device, dtype)`` of every map computation."""
    calls: list[tuple[str, str]] = []
    real = radiomics_inputs.compute_map_channels

    def spy(ct_roi: Any, mask: Any, spec: Any, device: str = "auto", dtype: str = MAP_DTYPE) -> Any:
        calls.append((device, dtype))
        return real(ct_roi, mask, spec, device, dtype)

    monkeypatch.setattr(radiomics_inputs, "compute_map_channels", spy)
    return calls


@pytest.fixture
def feature_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pancreas voxels of every global-feature computation."""
    calls: list[int] = []
    real = radiomics_inputs.compute_global_features

    def spy(ct: Any, pancreas: Any, spec: Any) -> Any:
        calls.append(int(sitk.GetArrayViewFromImage(pancreas).sum()))
        return real(ct, pancreas, spec)

    monkeypatch.setattr(radiomics_inputs, "compute_global_features", spy)
    return calls


def _outputs(folder: Path) -> dict[str, tuple[np.ndarray, float]]:
    return {
        case: (
            sitk.GetArrayFromImage(sitk.ReadImage(str(folder / case / DETECTION_MAP_NAME))),
            json.loads((folder / case / LIKELIHOOD_NAME).read_text()),
        )
        for case in CASES
    }


def test_inputs_on_the_cluster_give_the_pipelines_predictions_and_maps_are_reused(
    fold, map_calls, feature_calls, tmp_path, monkeypatch
) -> None:
    config, ws, spec = fold
    assert (
        predict_validation_cases(config, ws, "both", 0, "per-fold", {CHECKPOINT: tmp_path / "a"}, IN_PROCESS)
        == 2
    )
    assert map_calls and set(map_calls) == {("cpu", MAP_DTYPE)}
    assert len(feature_calls) == len(CASES), "no global-features cache here: computed on the cluster"
    cached = sorted(ws.prediction_map_cache.glob("*/*.nii.gz"))
    assert len(cached) == len(CASES) * len(spec.map_features)
    with_cluster = _outputs(tmp_path / "a")

    # again (another output folder, as select-checkpoint's next candidate): every map from the cache
    map_calls.clear()
    predict_validation_cases(config, ws, "both", 0, "per-fold", {CHECKPOINT: tmp_path / "b"}, IN_PROCESS)
    assert map_calls == []
    # the maps variant of the fold has the same map features and settings: the same cached maps
    margins = spec.preprocessing.roi_margins_mm_xyz
    maps_only = spec.for_variant("maps")
    shared = prediction_maps(ws, maps_only, margins, list(CASES), IN_PROCESS)
    assert sorted(p for paths in shared.values() for p in paths) == cached
    assert map_calls == []

    # without the cluster and cache the pipeline computes maps and features itself: the same predictions
    monkeypatch.setattr(cv_prediction, "precomputed_inputs", lambda *args, **kwargs: ({}, {}, 0))
    feature_calls.clear()
    predict_validation_cases(config, ws, "both", 0, "per-fold", {CHECKPOINT: tmp_path / "c"}, IN_PROCESS)
    assert len(map_calls) == len(feature_calls) == len(CASES), "one call per case, in the pipeline"
    for case, (detection, likelihood) in _outputs(tmp_path / "c").items():
        assert likelihood == with_cluster[case][1]
        np.testing.assert_array_equal(detection, with_cluster[case][0])
        assert np.array_equal(_outputs(tmp_path / "b")[case][0], detection)


def test_a_new_out_of_fold_mask_recomputes_that_cases_maps_only(fold, map_calls) -> None:
    _, ws, spec = fold
    margins = spec.preprocessing.roi_margins_mm_xyz
    prediction_maps(ws, spec, margins, list(CASES), IN_PROCESS)
    map_calls.clear()
    path = ws.oof_mask(CASES[1])
    original = path.read_bytes()
    try:
        sitk.WriteImage(sitk.BinaryErode(sitk.ReadImage(str(path)), [1, 1, 0]), str(path))
        prediction_maps(ws, spec, margins, list(CASES), IN_PROCESS)
        assert len(map_calls) == 1, "one case, all its features in one call"
    finally:
        path.write_bytes(original)


def test_prepared_inputs_are_the_same_with_cached_maps(fold) -> None:
    """The map channels the network gets are bit-identical with the cluster's maps and with the pipeline's own."""
    import torch

    from pdacrad.inference import InferenceConfig
    from pdacrad.inference.pipeline import Stage2Pipeline
    from pdacrad.io import load_ct

    config, ws, spec = fold
    stage = stage2_for(config, "both", 0, "per-fold")
    pipeline = Stage2Pipeline.load(
        ws.model_folder(stage),
        ws.fold_folder(stage, 0) / RADIOMICS_NAME,
        InferenceConfig(resources_dir=ws.model_folder(stage), device="cpu", show_progress=False),
        torch.device("cpu"),
        folds=("fold_0",),
    )
    files = prediction_maps(ws, pipeline.spec, pipeline.margins_mm, list(CASES), IN_PROCESS)
    for case in CASES:
        ct, mask = load_ct(ws.cohort_image(case)), sitk.ReadImage(str(ws.oof_mask(case)))
        arrays = [sitk.GetArrayFromImage(sitk.ReadImage(str(p))) for p in files[case]]
        given, own = pipeline.prepare(ct, mask, None, arrays), pipeline.prepare(ct, mask)
        assert given.inputs is not None and own.inputs is not None
        assert len(own.inputs.extra_channels) == len(spec.map_features)
        for a, b in zip(given.inputs.extra_channels, own.inputs.extra_channels, strict=True):
            assert np.count_nonzero(b) > 100
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="map"):
        pipeline.prepare(ct, mask, None, arrays[:1])


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
