"""``record``: copy what a finished study's table rests on out of its work folder (which is large and may not
outlive the machine) into a small folder to commit or publish beside the paper.

Written into ``<out>/``::

    cv_predictions/<variant>/fold_<k>/<case>/   every finished cross-validation prediction (evaluate's input)
                                                of the PI-CAI-selected checkpoints, if predicted
    cv_predictions_final/...                    the same with the final checkpoints, if predicted
    labels/<case>.nii.gz                        the cohort's label maps (evaluate's reference)
    cases.csv                                   the cohort's case table, if it has one (subgroups)
    stage1_oof/                                 out-of-fold Stage-1 masks + provenance (the radiomics' input)
    radiomics/<fold_k | pooled>/*.json          each feature selection: radiomics.json, its report, vectors
    stage2/<variant>/fold_<k>/picai_selection.json   each Stage-2 model's PI-CAI checkpoint choice (every
                                                candidate's score, file name and sha256)
    stage1/fold_<k>/curves.{csv,png}, stage2/<variant>/fold_<k>/curves.{csv,png}
                                                every trained fold's per-class training curves (pdacrad_train.curves)
    ledger/*.json, ledger/status.txt            the run ledger: every finished unit and its wall time
    evaluation/, evaluation_final/              evaluate's outputs, if it was run
    calibration/, calibration_final/            calibrate's outputs (maps, Brier, reliability), if it was run
    RECORD.json                                 config, commit, date, machine, which checkpoint made which table

The tables are then reproduced without the work folder or any model by ``pdacrad-train evaluate --config C
--checkpoint picai --predictions <out>/cv_predictions --labels <out>/labels --cases <out>/cases.csv --out
<out>/evaluation`` (``--checkpoint final``, ``cv_predictions_final`` and ``evaluation_final`` for the final
checkpoints' table); ``RECORD.json``'s ``tables`` says which checkpoint made which table and which is the study's
primary one (``experiment.checkpoint``).
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from pdacrad.io import atomic_write, atomic_write_json
from pdacrad.io.predictions import is_finished_case
from pdacrad.nnunet_ext.checkpoint_selection import SELECTION_LOG
from pdacrad_train.config import CHECKPOINTS, TrainConfig
from pdacrad_train.curves import log_checkpoint, training_curves, write_curves
from pdacrad_train.cv_prediction import CHECKPOINT_FILES
from pdacrad_train.workspace import Workspace

logger = logging.getLogger(__name__)


def _git_commit(folder: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def _copy_tree(source: Path, target: Path, pattern: str = "*") -> int:
    """Copy the files under ``source`` matching ``pattern`` to the same relative places under ``target``."""
    count = 0
    for path in sorted(source.rglob(pattern)) if source.is_dir() else []:
        if path.is_file():
            (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / path.relative_to(source))
            count += 1
    return count


def _record_curves(fold_folder: Path, target: Path) -> int:
    """The fold's training curves (:mod:`pdacrad_train.curves`) into ``target``, when it has a checkpoint; returns
    the number of files written."""
    if log_checkpoint(fold_folder) is None:
        return 0
    title = f"{fold_folder.parent.name} {fold_folder.name}"
    return len(write_curves(training_curves(fold_folder), target, title))


def run_record(config: TrainConfig, ws: Workspace, out: Path) -> dict[str, int]:
    """Copy the study record of ``ws`` into ``out`` (module docstring); returns files copied per part.

    Predictions are copied per finished case only (both outputs present), so a run still going leaves no
    half-written case in the record.
    """
    from pdacrad_train.radiomics_config import load_radiomics_config
    from pdacrad_train.variants import stage2_for

    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for checkpoint in CHECKPOINTS:
        root = ws.predictions_dir(checkpoint)
        finished = [d for d in sorted(root.glob("*/*/*")) if d.is_dir() and is_finished_case(d)]
        if finished or checkpoint == config.experiment.checkpoint:
            counts[root.name] = sum(_copy_tree(d, out / d.relative_to(ws.root)) for d in finished)
    counts["labels"] = _copy_tree(ws.cohort / "labelsTr", out / "labels")
    if (ws.cohort / "cases.csv").is_file():
        shutil.copy2(ws.cohort / "cases.csv", out / "cases.csv")
        counts["cases.csv"] = 1
    counts["stage1_oof"] = _copy_tree(ws.stage1_oof, out / "stage1_oof")
    counts["radiomics"] = sum(
        _copy_tree(folder, out / "radiomics" / folder.name, "*.json")
        for folder in sorted(ws.radiomics.glob("*"))
        if folder.is_dir() and (folder.name == "pooled" or folder.name.startswith("fold_"))
    )
    counts["stage2"] = counts["curves"] = 0
    mode = load_radiomics_config(config, None).selection.mode
    for fold in range(config.splits.n_folds):
        counts["curves"] += _record_curves(
            ws.fold_folder(config.stage1, fold), out / "stage1" / f"fold_{fold}"
        )
    for variant in config.experiment.variants:
        for fold in range(config.splits.n_folds):
            folder = ws.fold_folder(stage2_for(config, variant, fold, mode), fold)
            target = out / "stage2" / variant / f"fold_{fold}"
            if (folder / SELECTION_LOG).is_file():
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(folder / SELECTION_LOG, target / SELECTION_LOG)
                counts["stage2"] += 1
            counts["curves"] += _record_curves(folder, target)
    ledger = ws.ledger
    counts["ledger"] = _copy_tree(ledger.folder, out / "ledger", "*.json")
    status = "".join(f"{line}\n" for line in ledger.status_lines())
    atomic_write(out / "ledger" / "status.txt", lambda tmp: tmp.write_text(status))
    for checkpoint in CHECKPOINTS:
        for folder in (ws.evaluation_dir(checkpoint), ws.calibration_dir(checkpoint)):
            if folder.is_dir():
                counts[folder.name] = _copy_tree(folder, out / folder.name)
    atomic_write_json(
        {
            "config": config.source or config.name,
            "work_dir": str(ws.root),
            "commit": _git_commit(Path(__file__).parent),
            "recorded": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
            },
            "files": counts,
            "tables": {
                ws.evaluation_dir(c).name: {
                    "predictions": ws.predictions_dir(c).name,
                    "checkpoint": CHECKPOINT_FILES[c],
                    "primary": c == config.experiment.checkpoint,
                }
                for c in CHECKPOINTS
                if ws.predictions_dir(c).name in counts
            },
        },
        out / "RECORD.json",
    )
    logger.info("%s: recorded %s → %s", config.name, counts, out)
    return counts
