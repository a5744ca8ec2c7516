"""Command-line options shared by every ``pdacrad-train`` step."""

from __future__ import annotations

import typer

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
