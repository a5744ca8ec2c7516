"""Command-line options shared by every ``pdacrad-train`` step."""

from __future__ import annotations

import typer

#: ``--config``: the training recipe every step reads.
CONFIG = typer.Option(
    ..., "--config", "-c", help="Training config YAML, e.g. training/configs/synthetic-demo.yaml."
)
#: ``--work-dir``: overrides the recipe's work folder.
WORK_DIR = typer.Option(None, "--work-dir", help="Work folder (replaces the config's work_dir).")
