"""The README's many-machines recipe on one box: two ``experiment --steps stage1 --folds k`` jobs started at once on
one work folder (real processes, real nnU-Net planning, preprocessing and smoke training) both finish, the dataset
is planned and preprocessed once, and every preprocessed case is intact."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from pdacrad_train.cli import app
from typer.testing import CliRunner

from tests.training.conftest import TINY_STAGE

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"
DATASET = "Dataset901_PdacradStage1Demo"


def _config(root: Path, phantom_writer) -> Path:
    for i in range(4):
        phantom_writer(root / "cohort", f"case_{i:03d}", lesion_radius_vox=i % 2, seed=i)
    data = yaml.safe_load((CONFIGS / "synthetic-demo.yaml").read_text())
    data.update(cohort={"source": "folder", "path": str(root / "cohort")}, work_dir=str(root / "work"))
    data["splits"]["n_folds"] = 2
    data["stage1"].update(TINY_STAGE, trainer="nnUNetTrainerSmoke", fold=0)
    data["stage2"].update(TINY_STAGE, margins_mm_xyz=[10.0, 5.0, 4.0])
    data["run"].update(torch_threads=1, device="cpu", num_processes=1, augmentation_workers=0)
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.slow
def test_two_fold_jobs_on_one_work_folder_preprocess_once(
    tmp_path: Path, phantom_writer, monkeypatch
) -> None:
    config = _config(tmp_path, phantom_writer)
    # augmentation in-process comes from the config (run.augmentation_workers: 0), scoped to training
    env = {k: v for k, v in os.environ.items() if k not in ("nnUNet_n_proc_DA", "nnUNet_def_n_proc")}
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        env[name] = str(tmp_path / "work" / name)
        monkeypatch.setenv(name, env[name])
    result = CliRunner().invoke(app, ["experiment", "--config", str(config), "--steps", "prepare"])
    assert result.exit_code == 0, result.output
    jobs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from pdacrad_train.cli import main; main()",
                "experiment",
                "--config",
                str(config),
                "--steps",
                "stage1",
                "--folds",
                str(fold),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for fold in (0, 1)
    ]
    logs = [job.communicate(timeout=600)[0] for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0], "\n\n".join(logs)
    # one job planned and preprocessed; the other waited for the lock, then found both done
    assert sum("Preprocessed data exist, skipping" in log for log in logs) == 1, "\n\n".join(logs)
    assert sum("Plans exist, skipping planning" in log for log in logs) == 1
    preprocessed = tmp_path / "work" / "nnUNet_preprocessed" / DATASET
    assert not (preprocessed / "pdacrad.lock").exists() and not list(
        (preprocessed / "pdacrad_jobs").glob("*")
    )
    from nnunetv2.training.dataloading.nnunet_dataset import nnUNetDatasetBlosc2

    cases = sorted(
        p.name.removesuffix(".b2nd") for p in (preprocessed / "nnUNetPlans_3d_fullres").glob("*_seg.b2nd")
    )
    ids = [c.removesuffix("_seg") for c in cases]
    assert len(ids) == 4
    dataset = nnUNetDatasetBlosc2(str(preprocessed / "nnUNetPlans_3d_fullres"), ids)
    for case in ids:  # every case loads whole (nothing deleted or half-written under the other job)
        data, seg, _, _ = dataset.load_case(case)
        assert np.isfinite(np.asarray(data)).all() and np.asarray(seg).shape[1:] == np.asarray(data).shape[1:]
    results = tmp_path / "work" / "nnUNet_results" / DATASET / "nnUNetTrainerSmoke__nnUNetPlans__3d_fullres"
    for fold in (0, 1):
        assert (results / f"fold_{fold}" / "checkpoint_final.pth").is_file()
        assert (results / f"fold_{fold}" / "validation" / "summary.json").is_file()
