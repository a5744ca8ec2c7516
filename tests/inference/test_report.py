"""Per-case report: the PNG of a positive synthetic case shows the detection overlay on the lesion (and plain grey
there without a detection); the JSON lists candidates with physical centres, volumes in mL and confidences."""

from __future__ import annotations

import json
from types import MappingProxyType

import numpy as np
import pytest
import SimpleITK as sitk
from matplotlib.image import imread

from pdacrad.inference import PipelineResult
from pdacrad.inference.report import lesion_candidates, render_case_figure, write_case_report
from pdacrad.synth import generate_case

SPACING = (1.8, 1.8, 3.0)


@pytest.fixture(scope="module")
def positive_case():
    """Synthetic CT (128×128×32, 1.8×1.8×3 mm) with a 178-voxel hypo-attenuating lesion, and its labels."""
    ct, labels, record = generate_case(
        "900004_00001", 4, True, "hypo", size_xyz=(128, 128, 32), spacing_xyz_mm=SPACING
    )
    assert record.lesion_volume_voxels > 100
    return ct, labels


def _result(labels: sitk.Image, detection: np.ndarray) -> PipelineResult:
    lab = sitk.GetArrayFromImage(labels)
    det = sitk.GetImageFromArray(detection.astype(np.float32))
    det.CopyInformation(labels)
    pancreas = sitk.GetImageFromArray(np.isin(lab, (1, 4, 5)).astype(np.uint8))
    pancreas.CopyInformation(labels)
    return PipelineResult(det, float(detection.max()), True, None, pancreas, MappingProxyType({}))


def _pixel_rgb(png_path, ct, result, case_id, xy_index) -> np.ndarray:
    """RGB (0–255) of the PNG around the data point ``xy_index`` (column x, row y) of the first panel."""
    candidates = lesion_candidates(result.detection_map)
    fig = render_case_figure(
        ct, result.detection_map, result.pancreas_mask, result.likelihood, case_id, candidates
    )
    fig.canvas.draw()
    ax = fig.axes[0]
    x_disp, y_disp = ax.transData.transform(xy_index)
    image = imread(png_path)[..., :3] * 255
    row, col = round(image.shape[0] - y_disp), round(x_disp)
    return np.median(image[row - 1 : row + 2, col - 1 : col + 2].reshape(-1, 3), axis=0)


def test_png_shows_the_overlay_at_the_lesion(positive_case, tmp_path) -> None:
    ct, labels = positive_case
    lesion = sitk.GetArrayFromImage(labels) == 1
    result = _result(labels, lesion * 0.8)
    report = write_case_report(result, ct, tmp_path, "pos")
    assert report.png == tmp_path / "pos.png" and report.png.read_bytes()[:4] == b"\x89PNG"
    _, y, x = np.argwhere(lesion).mean(axis=0)
    red, green, blue = _pixel_rgb(report.png, ct, result, "pos", (x, y))
    assert red - blue > 80, f"expected the red–yellow overlay at the lesion, got RGB {(red, green, blue)}"

    # control: the same case without detection is plain grey there
    empty = _result(labels, np.zeros(lesion.shape))
    control = write_case_report(empty, ct, tmp_path / "control", "pos")
    rgb = _pixel_rgb(control.png, ct, empty, "pos", (x, y))
    assert np.ptp(rgb) < 10, f"expected grey CT without detection, got RGB {tuple(rgb)}"


def test_json_lists_candidates_in_mm_and_ml(positive_case, tmp_path) -> None:
    ct, labels = positive_case
    lesion = sitk.GetArrayFromImage(labels) == 1
    detection = lesion * 0.8
    detection[2:5, 10:14, 10:14] = 0.3  # a second, less confident candidate far from the lesion
    report = write_case_report(_result(labels, detection), ct, tmp_path, "two")
    summary = json.loads(report.json.read_text())
    assert summary["case"] == "two" and summary["likelihood"] == pytest.approx(0.8)
    first, second = summary["lesion_candidates"]
    assert first["confidence"] == pytest.approx(0.8) and second["confidence"] == pytest.approx(0.3)
    voxel_ml = np.prod(SPACING) / 1000.0
    assert first["voxels"] == lesion.sum() and first["volume_ml"] == pytest.approx(lesion.sum() * voxel_ml)
    assert second["volume_ml"] == pytest.approx(48 * voxel_ml)
    centre_zyx = np.argwhere(lesion).mean(axis=0)
    expected = labels.TransformContinuousIndexToPhysicalPoint(tuple(float(c) for c in centre_zyx[::-1]))
    np.testing.assert_allclose(first["centre_mm"], expected, atol=1e-6)
    assert summary["coordinate_system"].startswith("LPS")


def test_centre_follows_the_image_direction() -> None:
    """A flipped direction (x, y reversed, as many CTs) moves the physical centre, not the voxel index."""
    array = np.zeros((6, 10, 12), np.float32)
    array[2:4, 1:3, 8:10] = 0.5
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((2.0, 2.0, 5.0))
    image.SetOrigin((100.0, 50.0, -20.0))
    image.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
    (candidate,) = lesion_candidates(image)
    assert candidate.centre_index == (8, 2, 2)  # rounded from (8.5, 1.5, 2.5)
    assert candidate.centre_mm == pytest.approx((100.0 - 8.5 * 2.0, 50.0 - 1.5 * 2.0, -20.0 + 2.5 * 5.0))
    assert candidate.volume_ml == pytest.approx(8 * 20.0 / 1000.0)


def test_no_candidate_shows_the_pancreas_slice(positive_case, tmp_path) -> None:
    ct, labels = positive_case
    result = _result(labels, np.zeros(sitk.GetArrayFromImage(labels).shape))
    report = write_case_report(result, ct, tmp_path, "neg")
    assert report.candidates == ()
    assert json.loads(report.json.read_text())["lesion_candidates"] == []
