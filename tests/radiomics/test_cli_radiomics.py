"""`pdacrad maps` / `pdacrad features`: files in the input geometry, readable, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from typer.testing import CliRunner

from pdacrad.cli import app
from tests.radiomics.reference import real_ct_roi

DATA = Path(__file__).resolve().parents[1] / "data"


def test_maps_written_in_input_geometry(tmp_path: Path) -> None:
    image, mask = real_ct_roi()
    sitk.WriteImage(image, str(tmp_path / "ct.nii.gz"))
    sitk.WriteImage(mask, str(tmp_path / "mask.nii.gz"))
    params = tmp_path / "p.yaml"
    params.write_text("setting: {binWidth: 25}\nvoxelSetting: {kernelRadius: 1, initValue: -5}\n")
    names = ["original_glcm_Contrast", "original_firstorder_Mean"]
    result = CliRunner().invoke(
        app,
        ["maps", "--image", str(tmp_path / "ct.nii.gz"), "--mask", str(tmp_path / "mask.nii.gz"),
         "--params", str(params), "--features", ",".join(names), "--out", str(tmp_path / "out"),
         "--device", "cpu", "--dtype", "float32"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"{n}.nii.gz" for n in names)
    roi = sitk.GetArrayFromImage(mask) == 1
    for name in names:
        written = sitk.ReadImage(str(tmp_path / "out" / f"{name}.nii.gz"))
        assert written.GetSize() == image.GetSize()
        assert np.allclose(written.GetSpacing(), image.GetSpacing())
        assert np.allclose(written.GetOrigin(), image.GetOrigin(), atol=1e-4)
        assert np.allclose(written.GetDirection(), image.GetDirection(), atol=1e-5)
        assert written.GetPixelID() == sitk.sitkFloat32
        arr = sitk.GetArrayFromImage(written)
        assert (arr[~roi] == -5).all() and np.isfinite(arr[roi]).any()
    mean = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out" / "original_firstorder_Mean.nii.gz")))
    ct = sitk.GetArrayFromImage(image)
    assert ct[roi].min() - 1 <= mean[roi].min() and mean[roi].max() <= ct[roi].max() + 1


def test_invalid_input_exits_2_with_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(
        app, ["maps", "--image", str(tmp_path / "no.nii.gz"), "--mask", "x", "--out", "o"]
    )
    assert missing.exit_code == 2
    assert "image not found" in missing.output
    bad = runner.invoke(
        app,
        ["maps", "--image", str(DATA / "ts_native_abdomen_ct.nii.gz"), "--mask",
         str(DATA / "ts_native_abdomen_pancreas_mask.nii.gz"), "--features", "original_glcm_Nope",
         "--out", str(tmp_path / "o")],
    )  # fmt: skip
    assert bad.exit_code == 2 and "Nope" in bad.output
    assert not (tmp_path / "o").exists()


def test_features_json(tmp_path: Path) -> None:
    out = tmp_path / "f.json"
    params = tmp_path / "p.yaml"
    params.write_text("setting: {binWidth: 1}\nfeatureClass: {firstorder: [Mean, Maximum]}\n")
    result = CliRunner().invoke(
        app,
        ["features", "--image", str(DATA / "ibsi1_digital_phantom_image.nii.gz"), "--mask",
         str(DATA / "ibsi1_digital_phantom_mask.nii.gz"), "--params", str(params), "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    values = json.loads(out.read_text())
    assert values == {
        "original_firstorder_Mean": values["original_firstorder_Mean"],
        "original_firstorder_Maximum": 6.0,
    }
    assert abs(values["original_firstorder_Mean"] - 2.15) < 0.005
