"""What every ``pdacrad-train`` command shares: the common options, and :func:`step`, which loads the config and
workspace and maps pdacrad's errors to exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from pdacrad.cli.plumbing import exit_on_error
from pdacrad_train.config import TrainConfig, load_config
from pdacrad_train.nnunet_run import set_process_environment
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
    help="final (end of the schedule; nothing selected on the scored cases) or picai (the PI-CAI-selected "
    "checkpoint, the paper's protocol; selected on the scored fold by select-checkpoint). Own folders: "
    "cv_predictions_final / evaluation_final and cv_predictions / evaluation. Default: the config's "
    "experiment.checkpoint (final unless it says picai).",
)
#: ``--masks``: the radiomics steps' Stage-1 masks (default: the out-of-fold ones).
MASKS = typer.Option(
    None,
    "--masks",
    help="Folder of Stage-1 pancreas masks <case>.nii.gz on the full CT grid (non-zero = pancreas), one per "
    "training case. Default: <work_dir>/stage1_oof (the out-of-fold Stage-1 predictions).",
)
#: ``--allow-gt-masks``: the ground-truth pancreas where Stage-1 masks are missing.
ALLOW_GT_MASKS = typer.Option(
    False,
    "--allow-gt-masks",
    help="Without Stage-1 masks, use the ground-truth pancreas (labels 1, 4, 5) instead of failing "
    "(also config experiment.allow_gt_masks). Logged as a warning: optimistic on real data.",
)
#: ``--scheduler``: a running Dask scheduler for the radiomics steps.
SCHEDULER = typer.Option(
    None,
    "--scheduler",
    help="Address of a running Dask scheduler (default: the radiomics config's scheduler, else a LocalCluster of "
    "its n_workers, one per core when unset).",
)


@contextmanager
def step(config_path: Path, work_dir: Path | None) -> Iterator[tuple[TrainConfig, Workspace]]:
    """Load the config and workspace (and hand nnU-Net the config's process count before anything imports it);
    invalid input exits 2 with one line on stderr, other pdacrad errors 1."""
    with exit_on_error():
        config = load_config(config_path, work_dir)
        set_process_environment(config.run)
        yield config, workspace(config)
