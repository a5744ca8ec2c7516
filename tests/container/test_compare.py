"""The PANORAMA-style output comparison used by test.sh (≤ 10 voxels differing by > 1e-3; likelihood ± 1e-3)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from pdacrad.io import OUTPUT_LIKELIHOOD_RELPATH, OUTPUT_MAP_RELPATH, write_gc_outputs
from tests.container.compare import compare_outputs, main


def _map(values: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(values.astype(np.float32))
    image.SetSpacing((0.7, 0.7, 2.0))
    image.SetOrigin((1.0, -2.0, 3.0))
    return image


@pytest.fixture
def expected(tmp_path):
    values = np.zeros((8, 10, 12), np.float32)
    values[2:5, 3:6, 4:8] = 0.8
    write_gc_outputs(tmp_path / "expected", _map(values), 0.8)
    return tmp_path / "expected", values


def _actual(tmp_path, values, likelihood=0.8, image=None):
    write_gc_outputs(tmp_path / "actual", image if image is not None else _map(values), likelihood)
    return tmp_path / "actual"


def test_identical_outputs_pass_and_cli_exits_0(tmp_path, expected, capsys):
    exp_dir, values = expected
    act = _actual(tmp_path, values)
    result = compare_outputs(act, exp_dir)
    assert result.passed and result.differing_voxels == 0 and result.likelihood_difference == 0
    assert main([str(act), str(exp_dir)]) == 0
    assert "PASS" in capsys.readouterr().out


@pytest.mark.parametrize(("n_changed", "passes"), [(10, True), (11, False)])
def test_at_most_ten_voxels_may_differ(tmp_path, expected, n_changed, passes):
    exp_dir, values = expected
    changed = values.copy()
    changed.reshape(-1)[:n_changed] += 0.01
    changed.reshape(-1)[-5:] += 0.0009  # below the tolerance: never counted
    result = compare_outputs(_actual(tmp_path, changed), exp_dir)
    assert result.differing_voxels == n_changed
    assert result.passed is passes


def test_likelihood_tolerance(tmp_path, expected):
    exp_dir, values = expected
    assert compare_outputs(_actual(tmp_path, values, 0.8009), exp_dir).passed
    shutil.rmtree(tmp_path / "actual")
    result = compare_outputs(_actual(tmp_path, values, 0.802), exp_dir)
    assert not result.passed and "likelihood" in result.problems[0]


def test_geometry_and_missing_files_fail(tmp_path, expected):
    exp_dir, values = expected
    moved = _map(values)
    moved.SetOrigin((1.0, -2.0, 4.0))
    result = compare_outputs(_actual(tmp_path, values, image=moved), exp_dir)
    assert not result.passed and any("origin" in p for p in result.problems)
    (tmp_path / "actual" / OUTPUT_LIKELIHOOD_RELPATH).unlink()
    (tmp_path / "actual" / OUTPUT_MAP_RELPATH).unlink()
    result = compare_outputs(tmp_path / "actual", exp_dir)
    assert len(result.problems) == 2 and all("missing" in p for p in result.problems)
    assert main([str(tmp_path / "actual"), str(exp_dir)]) == 1
