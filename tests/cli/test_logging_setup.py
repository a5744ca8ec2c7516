"""Container-fit logs: pdacrad at INFO on one line per record, PyRadiomics' routine notes hidden, tqdm bars only on
a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pdacrad.cli.logging_setup import TQDM_DISABLE_ENV, configure_progress

ROOT = Path(__file__).resolve().parents[1]

_SCRIPT = """
from pdacrad.cli.logging_setup import configure_logging
configure_logging()
import radiomics  # imported after logging was configured, as the pipeline does (it resets its own logger)
import logging
from tqdm import tqdm
for _ in tqdm(range(50), desc="work"):
    pass
logging.getLogger("radiomics.glcm").info("GLCM is symmetrical, therefore Sum Average = 2 * Joint Average")
logging.getLogger("radiomics.glcm").warning("GLCM is symmetrical, therefore Sum Average = 2 * Joint Average")
logging.getLogger("radiomics.glcm").error("a real radiomics error")
logging.getLogger("pdacrad.inference").info("stage 1 done in 1.0 s")
"""


def test_a_piped_log_has_no_progress_bars_and_no_third_party_info(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TQDM_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, check=True, timeout=120
    )
    lines = proc.stderr.splitlines()
    assert not any("work:" in line or "\r" in line for line in lines), proc.stderr  # no tqdm bar
    assert not any("symmetrical" in line for line in lines)
    assert any("a real radiomics error" in line for line in lines)
    assert any(line.endswith("pdacrad.inference: stage 1 done in 1.0 s") for line in lines)


def test_progress_bars_stay_on_a_terminal_and_go_off_on_a_pipe(monkeypatch):
    monkeypatch.delenv(TQDM_DISABLE_ENV, raising=False)
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as tty:
        assert configure_progress(tty) is True
    os.close(leader)
    assert TQDM_DISABLE_ENV not in os.environ
    with open(os.devnull, "w") as pipe_like:
        assert configure_progress(pipe_like) is False
    assert os.environ[TQDM_DISABLE_ENV] == "1"


def test_an_explicit_tqdm_setting_is_respected(monkeypatch):
    monkeypatch.setenv(TQDM_DISABLE_ENV, "")
    with open(os.devnull, "w") as pipe_like:
        configure_progress(pipe_like)
    assert os.environ[TQDM_DISABLE_ENV] == ""
