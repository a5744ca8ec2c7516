"""The pipeline applies ``resources/calibration.json``: the likelihood and every lesion value of the detection map are
mapped (background stays 0, likelihood = max of the map), the raw likelihood is kept, the report records both, and a
model without the file runs exactly as before."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from pdacrad.errors import ResourceError
from pdacrad.inference import InferenceConfig, Pipeline
from pdacrad.inference.pipeline import PipelineResult, calibrate_result
from pdacrad.inference.report import write_case_report
from pdacrad.model.calibration import LikelihoodCalibration
from pdacrad.model.manifest import CALIBRATION_NAME, write_manifest

CALIBRATION = LikelihoodCalibration(slope=1.7, intercept=-2.0, fitted_on="a test")


def _config(resources: Path, **kwargs) -> InferenceConfig:
    return InferenceConfig(resources_dir=resources, device="cpu", show_progress=False, **kwargs)


@pytest.fixture(scope="module")
def calibrated_resources(random_resources, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("calibrated") / "resources"
    shutil.copytree(random_resources, folder)
    CALIBRATION.save(folder / CALIBRATION_NAME)
    write_manifest(folder, demo=True, trained_on="nothing (random weights)", training_config="none")
    return folder


@pytest.fixture(scope="module")
def raw_result(random_resources, real_ct) -> PipelineResult:
    return Pipeline(_config(random_resources)).predict(real_ct)


def test_without_calibration_json_the_result_is_the_raw_one(random_resources, raw_result, real_ct) -> None:
    pipeline = Pipeline(_config(random_resources))
    assert pipeline.calibration is None and raw_result.raw_likelihood is None
    raw_map = sitk.GetArrayFromImage(raw_result.detection_map)
    assert raw_result.likelihood == pytest.approx(float(raw_map.max())) and 0.0 < raw_result.likelihood < 1.0


def test_the_pipeline_maps_likelihood_and_lesion_values(calibrated_resources, raw_result, real_ct) -> None:
    result = Pipeline(_config(calibrated_resources)).predict(real_ct)
    raw_map = sitk.GetArrayFromImage(raw_result.detection_map)
    new_map = sitk.GetArrayFromImage(result.detection_map)
    assert result.raw_likelihood == raw_result.likelihood
    assert result.likelihood == pytest.approx(float(CALIBRATION.apply(raw_result.likelihood)), rel=1e-12)
    assert result.likelihood != pytest.approx(raw_result.likelihood, abs=1e-3)
    np.testing.assert_array_equal(new_map == 0, raw_map == 0)  # background stays background
    lesion = raw_map > 0
    np.testing.assert_allclose(new_map[lesion], CALIBRATION.apply(raw_map[lesion]), rtol=1e-6)
    assert result.likelihood == pytest.approx(float(new_map.max()), rel=1e-6)  # still the max lesion value
    assert new_map.dtype == np.float32 and result.detection_map.GetSpacing() == real_ct.GetSpacing()
    uncalibrated = Pipeline(_config(calibrated_resources, calibrate=False)).predict(real_ct)
    assert uncalibrated.likelihood == raw_result.likelihood and uncalibrated.raw_likelihood is None


def test_the_case_report_records_both_likelihoods(calibrated_resources, real_ct, tmp_path: Path) -> None:
    result = Pipeline(_config(calibrated_resources)).predict(real_ct)
    report = write_case_report(result, real_ct, tmp_path, "case")
    summary = json.loads(report.json.read_text())
    assert summary["likelihood"] == result.likelihood and summary["raw_likelihood"] == result.raw_likelihood


def test_a_case_without_pancreas_keeps_the_configured_likelihood(raw_result) -> None:
    empty = PipelineResult(
        raw_result.detection_map * 0.0, 0.05, False, None, raw_result.pancreas_mask, raw_result.seconds
    )
    assert calibrate_result(empty, CALIBRATION) is empty


def test_an_unlisted_or_corrupt_calibration_stops_the_pipeline(calibrated_resources, tmp_path: Path) -> None:
    folder = tmp_path / "resources"
    shutil.copytree(calibrated_resources, folder)
    (folder / CALIBRATION_NAME).write_text('{"format_version": 1}')
    with pytest.raises(ResourceError, match=CALIBRATION_NAME):  # sha256 no longer matches the manifest
        Pipeline(_config(folder))
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["files"][CALIBRATION_NAME]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ResourceError, match="not listed in the manifest"):
        Pipeline(_config(folder))
