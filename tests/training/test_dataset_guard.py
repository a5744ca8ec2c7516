"""Planning + preprocessing as one guarded unit per dataset: concurrent jobs preprocess once and leave intact data,
a changed input is refused while a training reads the dataset, a training never starts during a preprocessing.

The unit tests here run a stand-in for nnU-Net's preprocessing (it deletes its output folder first, as
``DefaultPreprocessor.run`` does) in real processes; ``test_concurrent_fold_jobs.py`` runs the real chain."""

from __future__ import annotations

import multiprocessing as mp
import shutil
import time
from pathlib import Path

import pytest
from pdacrad_train.dataset_guard import DatasetGuard, break_dataset_locks, preprocessing_record

from pdacrad.errors import InvalidInputError

SPAWN = mp.get_context("spawn")
PLANS = {
    "dataset_name": "Dataset901_X",
    "transpose_forward": [0, 1, 2],
    "foreground_intensity_properties_per_channel": {"0": {"mean": 50.0}},
    "configurations": {
        "3d_fullres": {"spacing": [4.0, 2.5, 2.0], "patch_size": [8, 32, 32], "batch_size": 2}
    },
}


def _record(spacing: float = 4.0, raw: str = "raw-v1") -> dict:
    plans = {
        **PLANS,
        "configurations": {
            "3d_fullres": {**PLANS["configurations"]["3d_fullres"], "spacing": [spacing, 2.5, 2.0]}
        },
    }
    return preprocessing_record(901, "nnUNetPlans", "3d_fullres", plans, raw, 3)


def fake_prepare(folder: str, runs: str, pause: float) -> None:
    """Child process: the guarded unit around a preprocessing that deletes its output first, writes slowly."""
    guard = DatasetGuard(Path(folder), poll_s=0.05)
    with guard.unit("plan+preprocess"):
        record = _record()
        if guard.is_current(record):
            return
        guard.begin_rebuild()
        out = Path(folder) / "nnUNetPlans_3d_fullres"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        for i in range(4):
            (out / f"case_{i}.b2nd").write_text(f"case {i}")
            time.sleep(pause / 4)
        with open(runs, "a") as f:
            f.write("preprocessed\n")
        guard.mark_done(record)


def test_concurrent_jobs_preprocess_once_and_leave_the_data_intact(tmp_path: Path) -> None:
    folder, runs = tmp_path / "Dataset901_X", tmp_path / "runs.txt"
    jobs = [SPAWN.Process(target=fake_prepare, args=(str(folder), str(runs), 0.6)) for _ in range(3)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(60)
    assert [job.exitcode for job in jobs] == [0, 0, 0]
    assert runs.read_text().split() == ["preprocessed"]
    files = sorted((folder / "nnUNetPlans_3d_fullres").iterdir())
    assert [f.read_text() for f in files] == [f"case {i}" for i in range(4)]
    assert DatasetGuard(folder).is_current(_record()) and not (folder / "pdacrad.lock").exists()


def test_a_changed_input_is_refused_while_a_training_reads_the_dataset(tmp_path: Path) -> None:
    guard = DatasetGuard(tmp_path / "Dataset901_X", timeout_s=5)
    guard.folder.mkdir()
    guard.mark_done(_record())
    assert guard.is_current(_record())
    assert not guard.is_current(_record(spacing=3.0)) and not guard.is_current(_record(raw="raw-v2"))
    # patch size and batch size change no preprocessed value
    bigger = {
        **PLANS,
        "configurations": {
            "3d_fullres": {
                **PLANS["configurations"]["3d_fullres"],
                "patch_size": [16, 64, 64],
                "batch_size": 4,
            }
        },
    }
    assert guard.is_current(preprocessing_record(901, "nnUNetPlans", "3d_fullres", bigger, "raw-v1", 3))
    with guard.training("train nnUNetTrainerSmoke fold 1"), guard.unit("plan+preprocess"):
        with pytest.raises(InvalidInputError, match=r"inputs changed.*fold 1.*--break-lock"):
            guard.begin_rebuild()
        assert guard.marker.is_file()  # refused: the old data and their marker stay
    with guard.unit("plan+preprocess"):
        guard.begin_rebuild()  # the training has ended: allowed, and the stale marker is gone
        assert not guard.marker.exists()


def test_a_training_waits_for_a_running_preprocessing(tmp_path: Path) -> None:
    folder, runs = tmp_path / "Dataset901_X", tmp_path / "runs.txt"
    job = SPAWN.Process(target=fake_prepare, args=(str(folder), str(runs), 1.5))
    job.start()
    guard = DatasetGuard(folder, timeout_s=60, poll_s=0.05)
    deadline = time.monotonic() + 30
    while not (folder / "pdacrad.lock").exists() and job.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    with guard.training("train fold 0"):
        assert guard.is_current(_record())  # registered only once the preprocessing had finished
    job.join(60)
    assert job.exitcode == 0


def test_break_dataset_locks_removes_locks_and_training_records(tmp_path: Path) -> None:
    guard = DatasetGuard(tmp_path / "Dataset901_X", timeout_s=5)
    with guard.training("train fold 0"):
        unit = guard.unit("plan+preprocess")
        unit.__enter__()
        removed = break_dataset_locks(tmp_path)
    assert [line.split(":")[0] for line in removed] == ["Dataset901_X"] * 2
    assert not (guard.folder / "pdacrad.lock").exists() and guard.jobs.running() == []


def test_experiment_break_lock_clears_a_dead_machines_lock(tmp_path: Path, monkeypatch) -> None:
    from pdacrad_train.cli import app
    from typer.testing import CliRunner

    configs = Path(__file__).resolve().parents[2] / "training" / "configs"
    preprocessed = tmp_path / "nnUNet_preprocessed"
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.setenv(name, str(tmp_path / name))
    lock = preprocessed / "Dataset901_X" / "pdacrad.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(
        '{"host": "gpu-node-7", "pid": 4242, "started": "2026-01-01T00:00:00+00:00", "purpose": "p", "token": "t"}'
    )
    args = [
        "experiment",
        "--config",
        str(configs / "synthetic-demo.yaml"),
        "--work-dir",
        str(tmp_path),
        "--status",
    ]
    assert CliRunner().invoke(app, args).exit_code == 0 and lock.exists()  # never broken unasked
    result = CliRunner().invoke(app, [*args, "--break-lock"])
    assert result.exit_code == 0, result.output
    assert not lock.exists() and "Dataset901_X: lock of 'p' (host gpu-node-7, pid 4242" in result.output
