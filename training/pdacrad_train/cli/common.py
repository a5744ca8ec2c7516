"""What every ``pdacrad-train`` command shares: the common options, and :func:`step`, which loads the config and
workspace and maps pdacrad's errors to exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from pdacrad.cli.plumbing import exit_on_error
from pdacrad_train.config import TrainConfig, load_config
from pdacrad_train.workspace import Workspace, workspace

#: ``--config``: the training recipe every step reads.
CONFIG = typer.Option(
    ..., "--config", "-c", help="Training config YAML, e.g. training/configs/synthetic-demo.yaml."
)
#: ``--work-dir``: overrides the recipe's work folder.
WORK_DIR = typer.Option(None, "--work-dir", help="Work folder (replaces the config's work_dir).")
#: ``--checkpoint``: which checkpoint of each Stage-2 fold model makes the CV predictions (``experiment.checkpoint``).
CHECKPOINT = typer.Option(
    None,
    "--checkpoint",
    help="picai (the PI-CAI-selected checkpoint, the paper's; selected on the scored fold) or final (end of the "
    "schedule; nothing selected on the scored cases). Own folders: cv_predictions[_final], evaluation[_final]. "
    "Default: the config's experiment.checkpoint.",
)


@contextmanager
def step(config_path: Path, work_dir: Path | None) -> Iterator[tuple[TrainConfig, Workspace]]:
    """Load the config and workspace; invalid input exits 2 with one line on stderr, other pdacrad errors 1."""
    with exit_on_error():
        config = load_config(config_path, work_dir)
        yield config, workspace(config)
