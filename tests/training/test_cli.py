"""`pdacrad-train --help` and each baseline step's `--help`; config errors exit 2 with one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pdacrad_train.cli import app
from typer.testing import CliRunner

STEPS = ["convert", "splits", "fit", "select-checkpoint", "export"]


def test_root_help_lists_the_steps() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for step in STEPS:
        assert step in result.output


@pytest.mark.parametrize("step", STEPS)
def test_each_step_has_help(step: str) -> None:
    result = CliRunner().invoke(app, [step, "--help"])
    assert result.exit_code == 0
    assert "--config" in result.output and "--work-dir" in result.output


def test_console_script_help_runs() -> None:
    script = Path(sys.executable).with_name("pdacrad-train")
    result = subprocess.run([str(script), "fit", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "nnU-Net" in result.stdout


def test_bad_config_exits_2_with_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("name: x\nwork_dir: w\ncohort: {source: synth}\nstage1: {dataset_id: 1}\n")
    result = CliRunner().invoke(app, ["splits", "--config", str(config)])
    assert result.exit_code == 2
    assert "stage1.dataset_name: missing required key" in result.output


def test_splits_before_convert_exits_2(tmp_path: Path) -> None:
    configs = Path(__file__).resolve().parents[2] / "training" / "configs"
    result = CliRunner().invoke(
        app, ["splits", "--config", str(configs / "synthetic-demo.yaml"), "--work-dir", str(tmp_path)]
    )
    assert result.exit_code == 2 and "run `pdacrad-train convert` first" in result.output


def test_select_checkpoint_before_training_exits_2_saying_what_is_missing(
    tmp_path: Path, monkeypatch
) -> None:
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.setenv(name, str(tmp_path / "work" / name))
    config = Path(__file__).resolve().parents[2] / "training" / "configs" / "synthetic-demo.yaml"
    args = [
        "select-checkpoint",
        "--config",
        str(config),
        "--work-dir",
        str(tmp_path / "work"),
        "--variants",
        "base",
    ]
    result = CliRunner().invoke(app, [*args, "--folds", "0"])
    assert result.exit_code == 2, result.output
    assert "checkpoint_final.pth missing" in result.output and "--steps stage2" in result.output
