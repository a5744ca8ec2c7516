"""The console scripts exist, answer --help/--version, and list their commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import pdacrad

BIN = Path(sys.executable).parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("script", ["pdacrad", "pdacrad-train"])
def test_version(script: str) -> None:
    res = _run(script, "--version")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"{script} {pdacrad.__version__}"


def test_pdacrad_help_lists_commands() -> None:
    res = _run("pdacrad", "--help")
    assert res.returncode == 0, res.stderr
    for command in ("synth",):
        assert command in res.stdout


def test_pdacrad_train_help() -> None:
    res = _run("pdacrad-train", "--help")
    assert res.returncode == 0, res.stderr
    assert "nnUNet_raw" in res.stdout
