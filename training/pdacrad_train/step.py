"""How every ``pdacrad-train`` step starts: load the config and workspace, and map pdacrad's errors to exit codes.

Step modules import :func:`step` from here (never from :mod:`pdacrad_train.cli`, which imports them)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pdacrad.cli.plumbing import exit_on_error
from pdacrad_train.config import TrainConfig, load_config
from pdacrad_train.workspace import Workspace, workspace


@contextmanager
def step(config_path: Path, work_dir: Path | None) -> Iterator[tuple[TrainConfig, Workspace]]:
    """Load the config and workspace; invalid input exits 2 with one line on stderr, other pdacrad errors 1."""
    with exit_on_error():
        config = load_config(config_path, work_dir)
        yield config, workspace(config)
