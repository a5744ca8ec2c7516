"""Implausible inputs said plainly: a volume that is not a CT in HU is refused, or with ``allow_non_ct`` warned
about (log, result, report JSON), and a Stage-1 pancreas below the plausible volume counts as not found."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from pdacrad.errors import InvalidInputError
from pdacrad.inference import InferenceConfig, Pipeline
from pdacrad.inference.config import MIN_PANCREAS_ML
from pdacrad.inference.pipeline import Stage2Pipeline
from pdacrad.inference.report import write_case_report


@pytest.fixture(scope="module")
def pipeline(random_resources) -> Pipeline:
    return Pipeline(InferenceConfig(resources_dir=random_resources, device="cpu", show_progress=False))


def _values_around_3000(real_ct: sitk.Image) -> sitk.Image:
    rng = np.random.default_rng(0)
    array = rng.normal(3000, 30, sitk.GetArrayViewFromImage(real_ct).shape).astype(np.int16)
    ct = sitk.GetImageFromArray(array)
    ct.CopyInformation(real_ct)
    return ct


def test_values_around_3000_are_refused_naming_the_input_and_the_way_out(pipeline, real_ct):
    with pytest.raises(InvalidInputError) as raised:
        pipeline.predict(_values_around_3000(real_ct), source="case.mha")
    message = str(raised.value)
    assert message.startswith(
        "case.mha does not look like a CT in Hounsfield units (only 0.0% of voxels are ≤ −50"
    )
    assert "--allow-non-ct" in message and "PDACRAD_ALLOW_NON_CT=1" in message


def test_values_around_3000_when_allowed_are_warned_about_in_log_result_and_report(
    random_resources, real_ct, pdacrad_logs, tmp_path
):
    config = InferenceConfig(
        resources_dir=random_resources, device="cpu", show_progress=False, allow_non_ct=True
    )
    ct = _values_around_3000(real_ct)
    result = Pipeline(config).predict(ct)
    assert result.intensity is not None and not result.intensity.looks_like_hu
    assert any("does not look like a CT in Hounsfield units" in w for w in result.warnings)
    logged = [r.getMessage() for r in pdacrad_logs if r.levelno == logging.WARNING]
    assert any("does not look like a CT in Hounsfield units" in m for m in logged)
    summary = json.loads(write_case_report(result, ct, tmp_path, "bright").json.read_text())
    assert summary["input_intensity"]["looks_like_ct_in_hu"] is False
    assert summary["input_intensity"]["in_hu"] is False
    assert any("Hounsfield" in w for w in summary["warnings"])


def _mask_like(ct: sitk.Image, boxes) -> sitk.Image:
    array = np.zeros(sitk.GetArrayViewFromImage(ct).shape, np.uint8)
    for box in boxes:
        array[box] = 1
    mask = sitk.GetImageFromArray(array)
    mask.CopyInformation(ct)
    return mask


def test_a_pancreas_below_the_plausible_volume_counts_as_not_found(random_resources, real_ct, pdacrad_logs):
    """A noise volume's 'pancreas' of a dozen voxels (as the demo weights found) gives the no-pancreas outcome;
    the same mask is accepted when the threshold is 0, and a real-size pancreas passes the default."""
    voxel_ml = float(np.prod(real_ct.GetSpacing())) / 1000.0
    assert 12 * voxel_ml < MIN_PANCREAS_ML
    tiny = _mask_like(real_ct, [np.s_[14, 50:53, 60:64]])  # 12 voxels = 0.32 mL at 3 mm
    config = InferenceConfig(resources_dir=random_resources, device="cpu", show_progress=False)
    stage2 = Stage2Pipeline.load(random_resources / "stage2", None, config, torch.device("cpu"))
    result = stage2.predict(real_ct, tiny)
    assert (
        not result.pancreas_found
        and result.roi is None
        and result.likelihood == config.no_pancreas_likelihood
    )
    assert not sitk.GetArrayViewFromImage(result.detection_map).any()
    assert any("below the plausible" in w and "0.32 mL" in w for w in result.warnings)
    assert any("below the plausible" in r.getMessage() for r in pdacrad_logs if r.levelno == logging.WARNING)
    accepting = Stage2Pipeline(
        stage2.model, stage2.spec, InferenceConfig(random_resources, min_pancreas_ml=0.0), "cpu"
    )
    assert accepting.prepare(real_ct, tiny).roi is not None
    plausible = _mask_like(real_ct, [np.s_[12:16, 40:50, 50:60]])  # 400 voxels = 10.8 mL
    prepared = stage2.prepare(real_ct, plausible)
    assert prepared.pancreas_ml >= MIN_PANCREAS_ML and prepared.roi is not None and prepared.warnings == ()
