"""process.py as the container runs it (a subprocess): exit codes, one-line errors, nothing written on failure,
deterministic outputs in the input geometry."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from pdacrad.io import INPUT_IMAGE_SUBDIR, OUTPUT_LIKELIHOOD_RELPATH, OUTPUT_MAP_RELPATH
from tests.random_model import write_random_resources

ROOT = Path(__file__).resolve().parents[1]
REAL_CT = ROOT / "tests" / "data" / "ts_native_abdomen_ct.nii.gz"
#: A real non-CT image: PyRadiomics' brain MR test case (tests/data/PROVENANCE.md).
BRAIN_MR = ROOT / "tests" / "data" / "pyradiomics_brain1_mr.mha"


@pytest.fixture(scope="module")
def resources(tmp_path_factory) -> Path:
    return write_random_resources(
        tmp_path_factory.mktemp("process") / "resources",
        stage1_spacing_zyx=(6.0, 6.0, 6.0),
        stage2_spacing_zyx=(3.0, 3.0, 3.0),
        patch_size_zyx=(16, 64, 64),
        mirror_axes=None,
    )


def run_process(
    input_dir: Path, output_dir: Path, resources: Path, *extra: str
) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(ROOT / "process.py"), "--input", str(input_dir), "--output", str(output_dir)]
    cmd += ["--resources", str(resources), "--device", "cpu", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


def _input_with(tmp_path: Path, *images: tuple[str, sitk.Image | bytes]) -> Path:
    folder = tmp_path / "input" / INPUT_IMAGE_SUBDIR
    folder.mkdir(parents=True)
    for name, content in images:
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            sitk.WriteImage(content, str(folder / name))
    return tmp_path / "input"


def _ct(size=(20, 20, 20), value=40.0, pixel=sitk.sitkInt16) -> sitk.Image:
    image = sitk.Image(list(size), pixel)
    return image + value if value else image


def _float_ct(bad: float) -> sitk.Image:
    array = np.full((20, 20, 20), 40.0, np.float32)
    array[3, 4, 5] = bad
    return sitk.GetImageFromArray(array)


def _truncated_mha(tmp_path: Path) -> bytes:
    path = tmp_path / "full.mha"
    sitk.WriteImage(_ct(), str(path))
    data = path.read_bytes()
    return data[: len(data) - 4000]


INVALID = {
    "missing input folder": (lambda tmp: tmp / "does-not-exist", "does not exist"),
    "empty input folder": (lambda tmp: _input_with(tmp), "No image in"),
    "two images": (lambda tmp: _input_with(tmp, ("a.mha", _ct()), ("b.mha", _ct())), "2 images"),
    "truncated file": (lambda tmp: _input_with(tmp, ("ct.mha", _truncated_mha(tmp))), "cannot read"),
    "not an image": (lambda tmp: _input_with(tmp, ("ct.mha", b"this is not an image\n")), "cannot read"),
    "2D image": (lambda tmp: _input_with(tmp, ("ct.mha", sitk.Image([64, 64], sitk.sitkInt16) + 40)), "2-D"),
    "4D image": (
        lambda tmp: _input_with(
            tmp, ("ct.mha", sitk.GetImageFromArray(np.full((2, 20, 20, 20), 40, np.int16), isVector=False))
        ),
        "4-D",
    ),
    "vector image": (
        lambda tmp: _input_with(tmp, ("ct.mha", sitk.Image([20, 20, 20], sitk.sitkVectorInt16, 3))),
        "vector image",
    ),
    "NaN": (lambda tmp: _input_with(tmp, ("ct.mha", _float_ct(np.nan))), "NaN or infinite"),
    "inf": (lambda tmp: _input_with(tmp, ("ct.mha", _float_ct(np.inf))), "NaN or infinite"),
    "normalised intensities": (
        lambda tmp: _input_with(tmp, ("ct.mha", _ct(value=0.5, pixel=sitk.sitkFloat32))),
        "Hounsfield",
    ),
    "all negative": (lambda tmp: _input_with(tmp, ("ct.mha", _ct(value=-1000.0))), "Hounsfield"),
    "brain MR": (
        lambda tmp: _input_with(tmp, ("mr.mha", sitk.ReadImage(str(BRAIN_MR)))),
        "does not look like a CT in Hounsfield units",
    ),
    "CT stored with an offset": (
        lambda tmp: _input_with(
            tmp, ("ct.nii.gz", sitk.Cast(sitk.ReadImage(str(REAL_CT)) + 1024, sitk.sitkUInt16))
        ),
        "does not look like a CT in Hounsfield units",
    ),
    "axis under 16 voxels": (
        lambda tmp: _input_with(tmp, ("ct.mha", _ct(size=(64, 64, 15)))),
        "fewer than 16",
    ),
}


@pytest.mark.parametrize("case", list(INVALID), ids=list(INVALID))
def test_invalid_input_exits_2_with_one_line_and_writes_nothing(tmp_path, resources, case):
    make_input, message = INVALID[case]
    input_dir = make_input(tmp_path)
    output_dir = tmp_path / "output"
    output_dir.mkdir()
    proc = run_process(input_dir, output_dir, resources)
    assert proc.returncode == 2, proc.stderr
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("pdacrad: invalid input:")]
    assert len(error_lines) == 1 and message in error_lines[0], proc.stderr
    assert list(output_dir.iterdir()) == [], "nothing may be written for an invalid input"


@pytest.mark.parametrize("how", ["--allow-non-ct", "PDACRAD_ALLOW_NON_CT=1"])
def test_a_non_ct_input_is_scored_only_when_allowed_and_then_warned_about(tmp_path, resources, how):
    from pdacrad.inference.config import ALLOW_NON_CT_ENV

    input_dir = _input_with(tmp_path, ("mr.mha", sitk.ReadImage(str(BRAIN_MR))))
    env = {**os.environ}
    extra: tuple[str, ...] = ()
    if how.startswith("--"):
        extra = (how,)
    else:
        name, value = how.split("=")
        assert name == ALLOW_NON_CT_ENV  # the command line's envvar is the library's constant
        env[name] = value
    cmd = [
        sys.executable,
        str(ROOT / "process.py"),
        "--input",
        str(input_dir),
        "--output",
        str(tmp_path / "o"),
    ]
    cmd += ["--resources", str(resources), "--device", "cpu", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "does not look like a CT in Hounsfield units" in proc.stderr and "fat or air" in proc.stderr
    assert (tmp_path / "o" / OUTPUT_MAP_RELPATH).is_file() and (
        tmp_path / "o" / OUTPUT_LIKELIHOOD_RELPATH
    ).is_file()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_cuda_exits_2(tmp_path, resources):
    input_dir = _input_with(tmp_path, ("ct.nii.gz", sitk.ReadImage(str(REAL_CT))))
    proc = run_process(input_dir, tmp_path / "out", resources, "--device", "cuda")
    assert proc.returncode == 2 and "no CUDA device" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_corrupted_resource_file_exits_1_naming_it(tmp_path, resources):
    broken = shutil.copytree(resources, tmp_path / "resources")
    checkpoint = broken / "stage2" / "fold_0" / "checkpoint_final.pth"
    data = bytearray(checkpoint.read_bytes())
    data[len(data) // 2] ^= 0xFF
    checkpoint.write_bytes(bytes(data))
    input_dir = _input_with(tmp_path, ("ct.nii.gz", sitk.ReadImage(str(REAL_CT))))
    output_dir = tmp_path / "output"
    proc = run_process(input_dir, output_dir, broken)
    assert proc.returncode == 1, proc.stderr
    assert "stage2/fold_0/checkpoint_final.pth" in proc.stderr and "corrupt" in proc.stderr
    assert not output_dir.exists()


def test_real_ct_twice_gives_identical_outputs_in_the_input_geometry(tmp_path, resources):
    reference = sitk.ReadImage(str(REAL_CT))
    input_dir = _input_with(tmp_path, ("ct.nii.gz", reference))
    outputs = []
    for run, extra in (("first", ()), ("second", ("--report", str(tmp_path / "report")))):
        proc = run_process(input_dir, tmp_path / run, resources, *extra)
        assert proc.returncode == 0, proc.stderr
        assert str(tmp_path / run / OUTPUT_MAP_RELPATH) in proc.stdout
        assert "demo weights" in proc.stderr
        outputs.append(tmp_path / run)
    for rel in (OUTPUT_MAP_RELPATH, OUTPUT_LIKELIHOOD_RELPATH):
        assert (outputs[0] / rel).read_bytes() == (outputs[1] / rel).read_bytes(), rel
    detection = sitk.ReadImage(str(outputs[0] / OUTPUT_MAP_RELPATH))
    assert detection.GetPixelID() == sitk.sitkFloat32
    assert detection.GetSize() == reference.GetSize()
    assert detection.GetSpacing() == pytest.approx(reference.GetSpacing())
    assert detection.GetOrigin() == pytest.approx(reference.GetOrigin())
    assert detection.GetDirection() == pytest.approx(reference.GetDirection())
    likelihood = float((outputs[0] / OUTPUT_LIKELIHOOD_RELPATH).read_text())
    assert 0.0 <= likelihood <= 1.0
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == ["ct.json", "ct.png"]  # --report
    assert likelihood == pytest.approx(float(sitk.GetArrayViewFromImage(detection).max()), abs=1e-6)


def test_pdacrad_predict_is_the_same_command(tmp_path, resources):
    from typer.testing import CliRunner

    from pdacrad.cli import app

    args = ["predict", "--input", str(tmp_path / "missing"), "--output", str(tmp_path / "o")]
    result = CliRunner().invoke(app, [*args, "--resources", str(resources), "--device", "cpu"])
    assert result.exit_code == 2
    assert not (tmp_path / "o").exists()
