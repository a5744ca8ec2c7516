from __future__ import annotations

import json
from pathlib import Path

import pytest
import SimpleITK as sitk

from pdacrad.errors import InvalidInputError
from pdacrad.io import INPUT_IMAGE_SUBDIR, find_input_image

from .conftest import ct_like


def _put(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    sitk.WriteImage(ct_like(), str(path))
    return path


def test_single_image_is_found(tmp_path: Path) -> None:
    path = _put(tmp_path / INPUT_IMAGE_SUBDIR, "1b2c.mha")
    (tmp_path / INPUT_IMAGE_SUBDIR / ".hidden.mha").write_text("not an image")
    assert find_input_image(tmp_path) == path


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_other_formats_are_accepted(tmp_path: Path, suffix: str) -> None:
    path = _put(tmp_path / INPUT_IMAGE_SUBDIR, f"case{suffix}")
    assert find_input_image(tmp_path) == path


def test_missing_input_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        find_input_image(tmp_path / "nope")


def test_missing_image_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"images/venous-ct does not exist"):
        find_input_image(tmp_path)


def test_empty_image_folder(tmp_path: Path) -> None:
    (tmp_path / INPUT_IMAGE_SUBDIR).mkdir(parents=True)
    (tmp_path / INPUT_IMAGE_SUBDIR / "notes.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="No image in"):
        find_input_image(tmp_path)


def test_two_images(tmp_path: Path) -> None:
    _put(tmp_path / INPUT_IMAGE_SUBDIR, "a.mha")
    _put(tmp_path / INPUT_IMAGE_SUBDIR, "b.mha")
    with pytest.raises(InvalidInputError, match=r"2 images in .*a\.mha, b\.mha.*exactly one"):
        find_input_image(tmp_path)


def test_inputs_json_is_used(tmp_path: Path) -> None:
    path = _put(tmp_path / "images" / "other-name", "x.mha")
    spec = [
        {"interface": {"slug": "something-else", "relative_path": "nowhere"}},
        {"interface": {"slug": "venous-phase-ct-scan", "relative_path": "images/other-name"}},
    ]
    (tmp_path / "inputs.json").write_text(json.dumps(spec))
    assert find_input_image(tmp_path) == path


def test_inputs_json_without_our_slug(tmp_path: Path) -> None:
    (tmp_path / "inputs.json").write_text(json.dumps([{"interface": {"slug": "x", "relative_path": "y"}}]))
    with pytest.raises(InvalidInputError, match="no interface with slug 'venous-phase-ct-scan'"):
        find_input_image(tmp_path)


def test_inputs_json_not_json(tmp_path: Path) -> None:
    (tmp_path / "inputs.json").write_text("{broken")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        find_input_image(tmp_path)
