"""``predict-cohort`` on 6 synthetic CTs (one corrupt) with small random models: 5 outputs + 1 failed row, reports,
resume after a killed run without recomputing finished cases, case ids and input errors."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import SimpleITK as sitk

from pdacrad.errors import InvalidInputError
from pdacrad.inference.cohort import SUMMARY_COLUMNS, CohortRunConfig, case_id_of, list_cases, run_cohort
from pdacrad.io.predictions import DETECTION_MAP_NAME, LIKELIHOOD_NAME, is_finished_case
from pdacrad.synth import case_id, generate_case
from tests.inference.conftest import SMALL  # the inference tests' small plans: seconds per case
from tests.random_model import write_random_resources

N_VALID = 5
CORRUPT = case_id(N_VALID)


@pytest.fixture(scope="module")
def resources(tmp_path_factory) -> Path:
    return write_random_resources(tmp_path_factory.mktemp("cohort_resources") / "resources", **SMALL)


@pytest.fixture(scope="module")
def cohort_images(tmp_path_factory) -> Path:
    """``imagesTr``-style folder: 5 synthetic CTs (64×64×32 voxels at 3 mm; cases 0, 2, 4 positive) and one
    corrupt ``.nii.gz`` (random bytes)."""
    folder = tmp_path_factory.mktemp("cohort") / "images"
    folder.mkdir()
    for k in range(N_VALID):
        ct, _, _ = generate_case(
            case_id(k), 10 + k, k % 2 == 0, size_xyz=(64, 64, 32), spacing_xyz_mm=(3, 3, 3)
        )
        sitk.WriteImage(ct, str(folder / f"{case_id(k)}_0000.nii.gz"))
    (folder / f"{CORRUPT}_0000.nii.gz").write_bytes(os.urandom(3000))
    return folder


def _summary(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "summary.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == SUMMARY_COLUMNS
        return {row["case"]: row for row in reader}


def _config(images: Path, out: Path, resources: Path, **kw) -> CohortRunConfig:
    return CohortRunConfig(images, out, resources, device="cpu", processes=False, **kw)


def test_corrupt_case_is_recorded_and_the_rest_is_predicted(
    cohort_images, resources, tmp_path, monkeypatch
) -> None:
    from pdacrad.inference import Pipeline

    loads = []
    original_init = Pipeline.__init__

    def counting_init(self, config) -> None:
        loads.append(config)
        original_init(self, config)

    monkeypatch.setattr(Pipeline, "__init__", counting_init)
    out, report = tmp_path / "out", tmp_path / "report"
    outcomes = run_cohort(_config(cohort_images, out, resources, report_dir=report))
    assert len(loads) == 1, "the models must be loaded once per worker, not once per case"
    assert [o.case for o in outcomes] == [case_id(k) for k in range(N_VALID + 1)]
    rows = _summary(out)
    failed = [c for c, r in rows.items() if r["status"] == "failed"]
    assert failed == [CORRUPT]
    assert "cannot read the image" in rows[CORRUPT]["message"] and rows[CORRUPT]["likelihood"] == ""  # NaN
    assert not (out / CORRUPT / LIKELIHOOD_NAME).exists()
    for k in range(N_VALID):
        case = case_id(k)
        assert rows[case]["status"] == "ok" and float(rows[case]["runtime_s"]) > 0
        assert is_finished_case(out / case)
        likelihood = float((out / case / LIKELIHOOD_NAME).read_text())
        assert float(rows[case]["likelihood"]) == pytest.approx(likelihood)
        detection = sitk.ReadImage(str(out / case / DETECTION_MAP_NAME))
        ct = sitk.ReadImage(str(cohort_images / f"{case}_0000.nii.gz"))
        assert detection.GetSize() == ct.GetSize() and detection.GetPixelID() == sitk.sitkFloat32
        assert (report / f"{case}.png").is_file() and (report / f"{case}.json").is_file()


def test_killed_run_resumes_without_recomputing(cohort_images, resources, tmp_path) -> None:
    """A real ``pdacrad predict-cohort`` (Dask LocalCluster, worker process) is SIGKILLed after two finished
    cases; the re-run skips them (their files untouched) and predicts the rest."""
    out = tmp_path / "out"
    cmd = [
        str(Path(sys.executable).with_name("pdacrad")),
        "predict-cohort",
        *("--input", str(cohort_images), "--output", str(out), "--resources", str(resources)),
        *("--device", "cpu", "--workers", "1"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if sum(is_finished_case(out / case_id(k)) for k in range(N_VALID)) >= 2:
                break
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its Dask nanny/worker processes
        _, stderr = proc.communicate(timeout=60)
    finished = [case_id(k) for k in range(N_VALID) if is_finished_case(out / case_id(k))]
    assert 2 <= len(finished) < N_VALID, f"expected a run killed halfway; stderr: {stderr.decode()[-2000:]}"
    assert not (out / "summary.csv").exists()
    stamps = {c: (out / c / DETECTION_MAP_NAME).stat().st_mtime_ns for c in finished}

    outcomes = {o.case: o for o in run_cohort(_config(cohort_images, out, resources))}
    for case in finished:
        assert outcomes[case].status == "skipped"
        assert (out / case / DETECTION_MAP_NAME).stat().st_mtime_ns == stamps[case], (
            "recomputed a finished case"
        )
    rest = [case_id(k) for k in range(N_VALID) if case_id(k) not in finished]
    assert all(outcomes[c].status == "ok" and is_finished_case(out / c) for c in rest)
    assert outcomes[CORRUPT].status == "failed"
    assert {r["status"] for r in _summary(out).values()} == {"ok", "skipped", "failed"}


def test_case_ids_and_input_errors(tmp_path) -> None:
    assert case_id_of(Path("900001_00001_0000.nii.gz")) == "900001_00001"
    assert case_id_of(Path("scan.mha")) == "scan"
    assert case_id_of(Path("a_0000_b.nrrd")) == "a_0000_b"
    with pytest.raises(InvalidInputError, match="input folder not found"):
        list_cases(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="no image"):
        list_cases(tmp_path)
    (tmp_path / "a_0000.nii.gz").write_bytes(b"")
    (tmp_path / "a.mha").write_bytes(b"")
    with pytest.raises(InvalidInputError, match="both case a"):
        list_cases(tmp_path)


def test_cli_exit_codes(tmp_path, resources) -> None:
    from typer.testing import CliRunner

    from pdacrad.cli import app

    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(
        app, ["predict-cohort", "--input", str(empty), "--output", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "no image" in result.output
    (empty / "x.mha").write_bytes(b"")
    result = CliRunner().invoke(
        app,
        [
            "predict-cohort",
            "--input",
            str(empty),
            "--output",
            str(tmp_path / "o"),
            "--resources",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 1 and "manifest" in result.output.lower()
