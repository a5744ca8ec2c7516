"""The learning gate (issue #21 item 2): does Stage 2, trained by ``experiment`` with the study's settings, find
what the CT plainly shows? Run it before any multi-variant study.

    .venv/bin/python benchmarks/gate.py --loss dice_ce     # the paper's Dice + CE
    .venv/bin/python benchmarks/gate.py --loss ce          # the PANORAMA baseline's CE
    .venv/bin/python benchmarks/gate.py --schedule long    # Stage 2 on 1,200 epochs instead of 600
    .venv/bin/python benchmarks/gate.py --patch demo       # Stage 2 on the demo's 20×48×48 patch, not 16×32×32

What it does, with ``training/configs/gate.yaml`` (40 phantoms with attenuation-only lesions of 10–35 mm):

1. ``experiment --steps prepare stage1 stage2`` for ``base``, fold 0 of 4 (30 training cases), the Stage-2 loss
   set by ``--loss``, in ``work_dirs/gate/<loss>/`` (each loss its own work folder: the two runs can go side by
   side, one per core);
2. what Stage 2 saw while training: lesion voxels per positive case on the Stage-2 grid, and the share of training
   patches (the trainer's own loader, augmentation included) that hold lesion voxels;
3. the per-class pseudo-Dice, train and validation loss over epochs (nnU-Net's log in the final checkpoint) →
   ``curves.csv`` and ``curves.png``;
4. ``export`` of the fold's model, then the held-aside test through the container's pipeline on ``held_aside.HELD_SEED``
   (declared before the first run, never trained on): 24 phantoms, half with an attenuation-only lesion of 10–35 mm;
   Stage 1's pancreas Dice is recorded too, so that a Stage-1 miss is not read as a Stage-2 one.

Pass (declared in the issue): AUROC ≥ 0.9 and the lesion-free phantoms' median likelihood ≤ 0.3. Everything goes to
``benchmarks/results/gate/<loss>/`` (``gate.json``, ``cases.csv``, the curves); the exit status is 0 on pass, 1 on
fail. The ledger resumes a killed run; rerunning a finished one only re-scores it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from held_aside import score  # benchmarks/held_aside.py, beside this script

from pdacrad.labels import TUMOUR_LABEL as LESION

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "training" / "configs" / "gate.yaml"
AUROC_GOAL, NEGATIVE_MEDIAN_GOAL = 0.9, 0.3


#: Stage-2 trainer per ``--schedule``: the study's 600-epoch demo schedule, or twice the epochs.
SCHEDULES = {"demo": "nnUNetTrainerPicaiDemo", "long": "nnUNetTrainerPicaiLong"}


#: Stage-2 patch (z, y, x voxels at 3 × 1.5 × 1.5 mm) per ``--patch``: the study's 48 mm cube (gate.yaml), or the
#: demo weights' 60 × 72 × 72 mm (synthetic-demo*.yaml), whose Stage 2 learned lesions on mixed cohorts.
PATCHES = {"study": (16, 32, 32), "demo": (20, 48, 48)}


def run_name(loss: str, schedule: str, patch: str) -> str:
    """The run's name (its work folder and results folder): ``<loss>``, then ``-<schedule>`` and ``-patch-<patch>``
    where they are not the first run's (demo schedule, study patch)."""
    return (
        loss
        + ("" if schedule == "demo" else f"-{schedule}")
        + ("" if patch == "study" else f"-patch-{patch}")
    )


def train(loss: str, schedule: str, patch: str) -> tuple[Any, Any]:
    """Train (or resume) Stage 1 and Stage 2 ``base`` fold 0 with ``loss``, the Stage-2 ``schedule``
    (:data:`SCHEDULES`) and ``patch`` (:data:`PATCHES`); returns (config, workspace)."""
    from pdacrad_train.config import load_config
    from pdacrad_train.experiment import run_experiment
    from pdacrad_train.nnunet_run import set_process_environment
    from pdacrad_train.radiomics_config import load_radiomics_config
    from pdacrad_train.workspace import workspace

    config = load_config(CONFIG, ROOT / "work_dirs" / "gate" / run_name(loss, schedule, patch))
    set_process_environment(config.run)
    trainer = SCHEDULES[schedule]
    config = dataclasses.replace(
        config,
        stage2=dataclasses.replace(config.stage2, loss=loss, trainer=trainer, patch_size_zyx=PATCHES[patch]),
        experiment=dataclasses.replace(config.experiment, plain_trainer=trainer),
    )
    ws = workspace(config)
    run_experiment(config, ws, load_radiomics_config(config), ["base"], [0], ("prepare", "stage1", "stage2"))
    return config, ws


def sampling(config: Any, ws: Any, n_batches: int) -> dict[str, Any]:
    """Lesion voxels per positive training case on the Stage-2 grid, and the share of the trainer's training
    patches (its own loader and augmentation, ``n_batches`` batches; an unseeded sample, as in training) with any
    lesion voxel."""
    import torch
    from nnunetv2.run.run_training import get_trainer_from_args
    from pdacrad_train.variants import stage2_for

    from pdacrad.nnunet_ext import register_trainers

    stage = stage2_for(config, "base", 0, "per-fold")
    ws.export_environment()
    register_trainers()
    trainer = get_trainer_from_args(
        str(stage.dataset_id), "3d_fullres", 0, stage.trainer, stage.plans_name, device=torch.device("cpu")
    )
    trainer.initialize()
    train_keys, _ = trainer.do_split()
    dataset = trainer.dataset_class(trainer.preprocessed_dataset_folder, train_keys)
    per_case = {}
    for key in dataset.identifiers:
        _, seg, _, _ = dataset.load_case(key)
        voxels = int((np.asarray(seg[:]) == LESION).sum())
        if voxels:
            per_case[key] = voxels
    loader, _ = trainer.get_dataloaders()
    with_lesion = total = 0
    lesion_share = []
    for _ in range(n_batches):
        target = next(loader)["target"]
        target = target[0] if isinstance(target, list) else target  # full resolution of deep supervision
        for sample in target:
            lesion = (sample == LESION).sum().item()
            with_lesion += lesion > 0
            total += 1
            lesion_share.append(lesion / sample.numel())
    values = np.array(list(per_case.values()))
    return {
        "positive_training_cases": len(per_case),
        "lesion_voxels_per_positive_case": {
            "median": float(np.median(values)),
            "min": int(values.min()),
            "max": int(values.max()),
        },
        "patches": total,
        "patches_with_lesion": with_lesion / total,
        "mean_lesion_share_of_patch": float(np.mean(lesion_share)),
        "patch_size_zyx": [int(p) for p in trainer.configuration_manager.patch_size],
    }


def last_epoch(fold_folder: Path, out: Path) -> dict[str, float]:
    """The fold's training curves (``curves.csv``, ``curves.png``) into ``out``; returns the last epoch's values."""
    from pdacrad_train.curves import training_curves, write_curves

    table = training_curves(fold_folder)
    write_curves(table, out, f"gate: {fold_folder.parent.name} {fold_folder.name}")
    return {k: float(v) for k, v in table.iloc[-1].items() if k != "epoch"}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--loss", choices=("dice_ce", "ce"), default="dice_ce")
    parser.add_argument(
        "--schedule", choices=tuple(SCHEDULES), default="demo", help="Stage-2 trainer schedule"
    )
    parser.add_argument("--patch", choices=tuple(PATCHES), default="study", help="Stage-2 patch size")
    parser.add_argument("--sampling-batches", type=int, default=100)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    name = run_name(args.loss, args.schedule, args.patch)
    out = ROOT / "benchmarks" / "results" / "gate" / name
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()

    from pdacrad_train.steps.export import export
    from pdacrad_train.variants import stage2_for

    config, ws = train(args.loss, args.schedule, args.patch)
    trained_s = time.time() - t0
    fold = ws.fold_folder(stage2_for(config, "base", 0, "per-fold"), 0)
    result: dict[str, Any] = {
        "loss": args.loss,
        "schedule": {"name": args.schedule, "stage2_trainer": SCHEDULES[args.schedule]},
        "stage2_patch_zyx": list(PATCHES[args.patch]),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
        "config": str(CONFIG.relative_to(ROOT)),
        "wall_s_this_run": round(trained_s),  # 0 when a finished training is only re-scored
        "ledger": ws.ledger.as_table(),  # every unit's wall time when it ran (training included)
        "sampling": sampling(config, ws, args.sampling_batches),
        "last_epoch": last_epoch(fold, out),
    }
    resources = ws.root / f"export-{name}"
    export(config, ws, resources)
    result["held_aside"], cases = score(resources)
    cases.to_csv(out / "cases.csv", index=False, float_format="%.6f")
    held = result["held_aside"]
    result["pass"] = bool(
        held["auroc"] >= AUROC_GOAL and held["negative_median_likelihood"] <= NEGATIVE_MEDIAN_GOAL
    )
    result["goal"] = {"auroc_min": AUROC_GOAL, "negative_median_likelihood_max": NEGATIVE_MEDIAN_GOAL}
    (out / "gate.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    print(f"gate ({name}): {'PASS' if result['pass'] else 'FAIL'}")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
