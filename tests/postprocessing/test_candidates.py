"""Lesion candidates (report_guided_annotation defaults) and likelihood = max of the candidate map."""

from __future__ import annotations

import numpy as np
import pytest

from pdacrad.postprocessing.candidates import extract_candidates


def _blob(shape, centre, radius, peak):
    zz, yy, xx = np.indices(shape)
    d2 = (zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2
    return (peak * np.exp(-d2 / (2.0 * radius**2))).astype(np.float32)


def test_two_blobs_give_two_candidates_filled_with_their_peak():
    shape = (24, 32, 32)
    prob = _blob(shape, (8, 8, 8), 2.5, 0.9) + _blob(shape, (16, 24, 24), 2.5, 0.6)
    result = extract_candidates(prob)
    assert sorted(result.confidences) == pytest.approx([0.6, 0.9], abs=1e-4)
    assert result.likelihood == pytest.approx(result.detection_map.max())
    assert result.likelihood == pytest.approx(0.9, abs=1e-4)
    assert result.detection_map.dtype == np.float32 and result.detection_map.shape == shape
    # each candidate is filled with one constant value
    assert np.unique(result.detection_map[result.detection_map > 0]) == pytest.approx([0.6, 0.9], abs=1e-4)
    assert result.detection_map[8, 8, 8] == pytest.approx(0.9, abs=1e-4)
    assert result.detection_map[16, 24, 24] == pytest.approx(0.6, abs=1e-4)
    assert result.detection_map[0, 31, 0] == 0


def test_candidates_smaller_than_eleven_voxels_are_dropped():
    prob = np.zeros((10, 10, 10), np.float32)
    prob[5, 5, 5:8] = 0.8  # 3 voxels
    result = extract_candidates(prob)
    assert result.likelihood == 0.0 and result.confidences == () and not result.detection_map.any()


def test_all_zero_probability_gives_zero_map_and_likelihood():
    result = extract_candidates(np.zeros((5, 6, 7), np.float32))
    assert result.likelihood == 0.0 and result.detection_map.shape == (5, 6, 7)


def test_rejects_non_3d():
    with pytest.raises(ValueError, match="3-D"):
        extract_candidates(np.zeros((5, 6), np.float32))


def test_equals_the_library_on_the_whole_map():
    from report_guided_annotation import extract_lesion_candidates

    rng = np.random.default_rng(5)
    shape = (30, 40, 36)
    prob = _blob(shape, (10, 12, 14), 3.0, 0.8) + _blob(shape, (20, 30, 22), 2.0, 0.5)
    prob += rng.random(shape).astype(np.float32) * 0.05
    prob[:4] = 0
    prob[:, :, 30:] = 0
    expected, confidences, _ = extract_lesion_candidates(prob.astype(np.float64))
    result = extract_candidates(prob)
    np.testing.assert_allclose(result.detection_map, expected, rtol=0, atol=1e-7)
    assert sorted(result.confidences) == pytest.approx(sorted(c for _, c in confidences))
