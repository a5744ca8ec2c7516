"""The two-stage pipeline end to end on the real CT with small random models: geometry, no-pancreas fallback,
determinism, Stage-2 inputs."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import SimpleITK as sitk

from pdacrad.errors import ResourceError
from pdacrad.inference import InferenceConfig, Pipeline, Stage2Inputs
from pdacrad.inference.stages import run_stage2
from pdacrad.model.manifest import DEMO_WARNING, write_manifest
from tests.random_model import PANORAMA_LABELS, write_random_model_folder, write_random_resources


@pytest.fixture(scope="module")
def pipeline(random_resources) -> Pipeline:
    return Pipeline(InferenceConfig(resources_dir=random_resources, device="cpu", show_progress=False))


def _assert_input_geometry(out: sitk.Image, ref: sitk.Image) -> None:
    assert out.GetSize() == ref.GetSize()
    assert out.GetSpacing() == pytest.approx(ref.GetSpacing())
    assert out.GetOrigin() == pytest.approx(ref.GetOrigin())
    assert out.GetDirection() == pytest.approx(ref.GetDirection())


def test_real_ct_gives_map_in_input_geometry(pipeline, real_ct):
    assert real_ct.GetDirection() != pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))  # the case is non-identity
    result = pipeline.predict(real_ct)
    _assert_input_geometry(result.detection_map, real_ct)
    assert result.detection_map.GetPixelID() == sitk.sitkFloat32
    array = sitk.GetArrayFromImage(result.detection_map)
    assert array.min() >= 0.0 and array.max() <= 1.0
    assert result.likelihood == pytest.approx(float(array.max()))
    assert result.pancreas_found and result.roi is not None
    outside = np.ones(array.shape, bool)
    outside[result.roi.slices_zyx] = False
    assert not array[outside].any(), "the map must be zero outside the Stage-2 ROI"
    assert set(result.seconds) == {"stage1", "roi", "stage2", "postprocess"}
    assert result.intensity is not None and result.intensity.looks_like_hu and result.warnings == ()
    _assert_input_geometry(result.pancreas_mask, real_ct)
    mask = sitk.GetArrayFromImage(result.pancreas_mask)
    assert mask.any() and set(np.unique(mask)) <= {0, 1}
    assert not mask[outside].any(), "the ROI must contain the whole Stage-1 pancreas"


def test_same_input_gives_identical_output(pipeline, real_ct, random_resources):
    first = sitk.GetArrayFromImage(pipeline.predict(real_ct).detection_map)
    second = sitk.GetArrayFromImage(pipeline.predict(real_ct).detection_map)
    np.testing.assert_array_equal(first, second)
    fresh = Pipeline(InferenceConfig(resources_dir=random_resources, device="cpu", show_progress=False))
    np.testing.assert_array_equal(first, sitk.GetArrayFromImage(fresh.predict(real_ct).detection_map))


def test_no_pancreas_gives_zero_map_low_likelihood_and_warning(no_pancreas_resources, real_ct, pdacrad_logs):
    pipe = Pipeline(InferenceConfig(resources_dir=no_pancreas_resources, device="cpu", show_progress=False))
    result = pipe.predict(real_ct)
    assert not result.pancreas_found and result.roi is None
    assert result.likelihood == 0.0
    _assert_input_geometry(result.detection_map, real_ct)
    assert not sitk.GetArrayViewFromImage(result.detection_map).any()
    warnings = [r.getMessage() for r in pdacrad_logs if r.levelno == logging.WARNING]
    assert any("no pancreas" in w for w in warnings)
    assert any(DEMO_WARNING in w for w in warnings), "demo resources must say so in the log"


def test_stage2_inputs_stack_extra_channels_and_check_their_shape(real_ct):
    crop = real_ct[10:40, 20:60, 5:25]
    ct = sitk.GetArrayFromImage(crop).astype(np.float32)
    stacked = Stage2Inputs(crop, extra_channels=(ct * 0 + 1, ct * 2)).as_array()
    assert stacked.shape == (3, *ct.shape) and stacked.dtype == np.float32
    np.testing.assert_array_equal(stacked[0], ct)
    np.testing.assert_array_equal(stacked[2], ct * 2)
    with pytest.raises(ValueError, match="channel 1"):
        Stage2Inputs(crop, extra_channels=(ct[:-1],)).as_array()


def test_stage2_refuses_a_global_vector_the_network_cannot_take(pipeline, real_ct):
    inputs = Stage2Inputs(real_ct[:32, :32, :16], global_vector=np.zeros(10, np.float32))
    with pytest.raises(ResourceError, match="global vector"):
        run_stage2(pipeline.stage2.model, inputs, tumour_label=1)


def test_stage2_probability_channel_and_labels_share_the_roi_grid(pipeline, real_ct):
    crop = real_ct[20:84, 20:84, :16]
    out = run_stage2(pipeline.stage2.model, Stage2Inputs(crop), tumour_label=1)
    assert out.labels.shape == out.tumour_probability.shape == (16, 64, 64)
    assert out.tumour_probability.min() >= 0.0 and out.tumour_probability.max() <= 1.0
    with pytest.raises(ResourceError, match="no tumour label 9"):
        run_stage2(pipeline.stage2.model, Stage2Inputs(crop), tumour_label=9)


def test_a_stage2_model_wanting_map_channels_is_refused_at_load(tmp_path):
    resources = write_random_resources(tmp_path / "resources", patch_size_zyx=(16, 32, 32))
    write_random_model_folder(
        resources / "stage2",
        labels=PANORAMA_LABELS,
        spacing_zyx=(3, 3, 3),
        patch_size_zyx=(16, 32, 32),
        n_channels=3,
    )
    write_manifest(resources, demo=True, trained_on="nothing", training_config="none")
    with pytest.raises(ResourceError, match="3 input channels"):
        Pipeline(InferenceConfig(resources_dir=resources, device="cpu"))


def test_tumour_probability_is_kept_only_where_the_region_touches_the_stage1_pancreas(
    pipeline, real_ct, monkeypatch
):
    """A blob Stage 2 labels PDAC apart from the pancreas Stage 1 found is dropped by default
    (``InferenceConfig.anchor_region``); a tumour attached to that pancreas stays; the baseline rule keeps both."""
    from dataclasses import replace

    from pdacrad.inference import pipeline as pipeline_module
    from pdacrad.inference.pipeline import Stage2Pipeline
    from pdacrad.inference.stages import Stage2Output

    mask = np.zeros(sitk.GetArrayViewFromImage(real_ct).shape, np.uint8)  # (z, y, x)
    mask[13:17, 45:57, 55:67] = 1  # 576 voxels of 27 mm³: 15.6 mL
    stage1 = sitk.GetImageFromArray(mask)
    stage1.CopyInformation(real_ct)
    case = pipeline.stage2.prepare(real_ct, stage1)
    assert case.roi is not None
    anchor = sitk.GetArrayFromImage(case.roi.crop(case.pancreas)) > 0
    labels = np.where(anchor, 4, 0).astype(np.uint8)
    probability = np.zeros(labels.shape, np.float32)
    z, y, x = (int(v.max()) for v in np.nonzero(anchor))
    labels[z - 1 : z + 1, y - 1 : y + 2, x : x + 3] = 1  # a tumour growing out of the pancreas
    probability[z - 1 : z + 1, y - 1 : y + 2, x : x + 3] = 0.6
    labels[:3, :3, :3], probability[:3, :3, :3] = (
        1,
        0.9,
    )  # an island in the ROI's corner, far from the pancreas
    assert not anchor[:8, :8, :8].any()
    monkeypatch.setattr(pipeline_module, "run_stage2", lambda *a: Stage2Output(labels, probability))

    def likelihood(anchored: bool) -> float:
        stage2 = pipeline.stage2
        config = replace(stage2.config, anchor_region=anchored)
        return (
            Stage2Pipeline(stage2.model, stage2.spec, config, "cpu")
            .predict_prepared(real_ct, case)
            .likelihood
        )

    assert InferenceConfig(resources_dir=pipeline.config.resources_dir).anchor_region  # the default
    assert likelihood(True) == pytest.approx(0.6, abs=0.01)
    assert likelihood(False) == pytest.approx(0.9, abs=0.01)
