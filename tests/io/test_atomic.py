from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from pdacrad.io import OUTPUT_LIKELIHOOD_RELPATH, OUTPUT_MAP_RELPATH, atomic_write_image, write_gc_outputs
from pdacrad.io import atomic as atomic_mod

from .conftest import ct_like


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_gc_outputs_written(real_ct: sitk.Image, tmp_path: Path) -> None:
    det = sitk.Cast(real_ct, sitk.sitkFloat64) * 0.0 + 0.25
    out = write_gc_outputs(tmp_path, det, 0.25)
    assert out.map_path == tmp_path / OUTPUT_MAP_RELPATH
    assert json.loads((tmp_path / OUTPUT_LIKELIHOOD_RELPATH).read_text()) == 0.25
    back = sitk.ReadImage(str(out.map_path))
    assert back.GetPixelID() == sitk.sitkFloat32
    assert back.GetDirection() == real_ct.GetDirection()
    assert back.GetOrigin() == real_ct.GetOrigin()
    assert _files(tmp_path) == sorted([out.map_path, out.likelihood_path])
    assert {p.stat().st_mode & 0o777 for p in _files(tmp_path)} == {0o644}


@pytest.mark.parametrize("bad", [float("nan"), -0.1, 1.5])
def test_bad_likelihood_rejected_before_writing(tmp_path: Path, bad: float) -> None:
    with pytest.raises(ValueError, match="likelihood"):
        write_gc_outputs(tmp_path, ct_like(), bad)
    assert _files(tmp_path) == []


def test_crash_while_writing_image_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = sitk.WriteImage

    def half_write(image: sitk.Image, path: str, *args: object) -> None:
        real_write(image, path, *args)
        Path(path).write_bytes(Path(path).read_bytes()[:100])  # the process "dies" mid-write
        raise OSError("disk full")

    monkeypatch.setattr(atomic_mod.sitk, "WriteImage", half_write)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_image(ct_like(), tmp_path / "x.mha")
    with pytest.raises(OSError, match="disk full"):
        write_gc_outputs(tmp_path / "gc", ct_like(), 0.5)
    assert _files(tmp_path) == []


def test_crash_while_writing_json_leaves_no_map(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError("no space")

    monkeypatch.setattr(Path, "write_text", fail)
    with pytest.raises(OSError, match="no space"):
        write_gc_outputs(tmp_path, ct_like(), 0.5)
    assert _files(tmp_path) == []


def test_overwrite_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "x.nii.gz"
    atomic_write_image(ct_like(seed=1), path)
    atomic_write_image(ct_like(seed=2), path)
    np.testing.assert_array_equal(
        sitk.GetArrayFromImage(sitk.ReadImage(str(path))), sitk.GetArrayFromImage(ct_like(seed=2))
    )
    assert _files(tmp_path) == [path]
