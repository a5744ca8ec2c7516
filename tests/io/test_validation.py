from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from pdacrad.errors import InvalidInputError
from pdacrad.io import atomic_write_image, load_ct, read_image

from .conftest import ct_like


def _write(image: sitk.Image, path: Path, compress: bool = True) -> Path:
    sitk.WriteImage(image, str(path), compress)
    return path


def test_real_ct_round_trips_with_identical_geometry(real_ct: sitk.Image, tmp_path: Path) -> None:
    assert real_ct.GetDirection() != (1, 0, 0, 0, 1, 0, 0, 0, 1)  # the point of this case
    src = _write(real_ct, tmp_path / "ct.mha")
    image = load_ct(src)
    out = tmp_path / "out" / "copy.mha"
    atomic_write_image(image, out)
    back = sitk.ReadImage(str(out))
    assert back.GetSize() == real_ct.GetSize()
    assert back.GetSpacing() == real_ct.GetSpacing()
    assert back.GetOrigin() == real_ct.GetOrigin()
    assert back.GetDirection() == real_ct.GetDirection()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(real_ct))


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "ct.mha"
    path.write_bytes(b"this is not an image")
    with pytest.raises(InvalidInputError, match="cannot read the image"):
        read_image(path)


@pytest.mark.parametrize("compress", [True, False])
def test_truncated_file(tmp_path: Path, compress: bool) -> None:
    path = _write(ct_like(), tmp_path / "ct.mha", compress)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidInputError, match="unreadable or truncated"):
        load_ct(path)


def test_2d_image(tmp_path: Path) -> None:
    image = sitk.GetImageFromArray(np.zeros((64, 64), np.int16) - 500)
    with pytest.raises(InvalidInputError, match="2-D image"):
        load_ct(_write(image, tmp_path / "ct.mha"))


def test_4d_image(tmp_path: Path) -> None:
    image = sitk.JoinSeries([ct_like(size=(20, 20, 20)), ct_like(size=(20, 20, 20), seed=1)])
    assert image.GetDimension() == 4
    with pytest.raises(InvalidInputError, match="4-D image"):
        load_ct(_write(image, tmp_path / "ct.nii.gz"))


def test_vector_image(tmp_path: Path) -> None:
    image = sitk.GetImageFromArray(np.zeros((20, 20, 20, 3), np.int16) - 500, isVector=True)
    with pytest.raises(InvalidInputError, match="vector image with 3 components"):
        load_ct(_write(image, tmp_path / "ct.mha"))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_voxels(tmp_path: Path, bad: float) -> None:
    arr = sitk.GetArrayFromImage(ct_like(dtype=np.float32))
    arr[3, 4, 5] = bad
    with pytest.raises(InvalidInputError, match="1 voxels are NaN or infinite"):
        load_ct(_write(sitk.GetImageFromArray(arr), tmp_path / "ct.mha"))


def test_normalised_intensities(tmp_path: Path) -> None:
    arr = np.random.default_rng(0).random((20, 32, 32)).astype(np.float32)
    with pytest.raises(InvalidInputError, match="looks normalised"):
        load_ct(_write(sitk.GetImageFromArray(arr), tmp_path / "ct.mha"))


def test_all_negative_intensities(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="all intensities are negative"):
        load_ct(_write(ct_like(value_range=(-1024, -10)), tmp_path / "ct.mha"))


def test_too_small_axis(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="fewer than 16 voxels on an axis"):
        load_ct(_write(ct_like(size=(64, 64, 8)), tmp_path / "ct.mha"))


def test_valid_small_ct_passes(tmp_path: Path) -> None:
    image = load_ct(_write(ct_like(size=(16, 16, 16)), tmp_path / "ct.nrrd"))
    assert image.GetSize() == (16, 16, 16)
