"""``pdacrad-train`` commands of the study itself: ``convert``, ``splits``, ``fit``, ``experiment``,
``select-checkpoint``, ``export``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from pdacrad.cli.plumbing import exit_on_error
from pdacrad.errors import InvalidInputError
from pdacrad_train.cli.common import CHECKPOINT, CONFIG, WORK_DIR, step
from pdacrad_train.config import load_config, stage_of, with_checkpoint
from pdacrad_train.workspace import Workspace

BREAK_LOCK = typer.Option(
    False,
    "--break-lock",
    help="First remove every dataset lock and training record in nnUNet_preprocessed that jobs left behind "
    "(only when no other job runs: a lock or record of another machine cannot be checked from here).",
)


def _break_locks(ws: Workspace) -> None:
    from pdacrad_train.dataset_guard import break_dataset_locks

    for line in break_dataset_locks(ws.nnunet_preprocessed):
        typer.echo(f"removed {line}", err=True)


def convert_command(config: Path = CONFIG, work_dir: Path | None = WORK_DIR) -> None:
    """PANORAMA layout (imagesTr/<case>_0000.nii.gz, labelsTr/<case>.nii.gz, labels 0–6) → nnU-Net raw datasets.

    Stage 1: whole CT with a binary pancreas label (labels 1, 4, 5 → 1). Stage 2: CT and labels 0–6 cropped
    around the ground-truth pancreas with margins x 100 / y 50 / z 15 mm, clipped to the image. With
    `cohort.source: synth` the synthetic cohort is generated first. Writes <work_dir>/cases.csv. Resumable.
    """
    from pdacrad_train.steps.prepare import convert

    with step(config, work_dir) as (cfg, ws):
        convert(cfg, ws)


def splits_command(config: Path = CONFIG, work_dir: Path | None = WORK_DIR) -> None:
    """Cross-validation folds → nnUNet_preprocessed/<dataset>/splits_final.json for both stages.

    Stratified by lesion-size bins of 500 voxels (bin 0 = negatives), seeded, every study of a patient in one
    fold (`splits.group_by: patient`; `case` deals cases alone); or the PANORAMA baseline fold files with
    `splits.source: baseline`. Writes splits_report.json beside each. Needs `convert` first.
    """
    from pdacrad_train.steps.prepare import write_splits

    with step(config, work_dir) as (cfg, ws):
        write_splits(cfg, ws)


def fit_command(
    config: Path = CONFIG,
    work_dir: Path | None = WORK_DIR,
    stage: list[str] = typer.Option(["1", "2"], "--stage", "-s", help="Stage(s) to fit: 1, 2 (repeatable)."),
    fold: str | None = typer.Option(
        None,
        "--fold",
        "-f",
        help="Fold to train: 0..n_folds-1 or 'all' (default: the stage's config `fold`).",
    ),
    break_lock: bool = BREAK_LOCK,
) -> None:
    """nnU-Net planning (config's target spacing and plans overrides), preprocessing and training of one fold.

    Training is nnU-Net's own `run_training` (what `nnUNetv2_train` runs) with the configured trainer class (a
    variant from pdacrad.nnunet_ext, found through nnUNet_extTrainer), including nnU-Net's final validation.
    Every part is skipped when its output exists; training resumes from checkpoint_latest.pth. For all folds, the
    out-of-fold masks and the four Stage-2 variants, use `experiment`.
    """
    from pdacrad_train.nnunet_run import fit_stage

    with step(config, work_dir) as (cfg, ws):
        if break_lock:
            _break_locks(ws)
        chosen = None if fold is None else fold if fold == "all" else int(fold)
        for key in stage:
            fit_stage(stage_of(cfg, key), cfg.run, ws, chosen)


def experiment_command(
    config: Path = CONFIG,
    work_dir: Path | None = WORK_DIR,
    variants: str | None = typer.Option(
        None,
        "--variants",
        help="Comma-separated Stage-2 variants: base,maps,global,both (default: the config's).",
    ),
    folds: str | None = typer.Option(None, "--folds", help="Comma-separated folds, e.g. 0,1 (default: all)."),
    steps: str | None = typer.Option(
        None,
        "--steps",
        help="Comma-separated steps: prepare,stage1,oof,radiomics,stage2,select-checkpoint,predict,evaluate "
        "(default: all, in order).",
    ),
    radiomics_config: Path | None = typer.Option(
        None, "--radiomics-config", help="Radiomics settings YAML (default: <config stem>.radiomics.yaml)."
    ),
    allow_gt_masks: bool = typer.Option(
        False,
        "--allow-gt-masks",
        help="Let the radiomics steps use the ground-truth pancreas where out-of-fold Stage-1 masks are missing "
        "(optimistic; default: refuse). Same as experiment.allow_gt_masks in the config.",
    ),
    status: bool = typer.Option(
        False, "--status", help="Print the run ledger (finished units, times) and exit."
    ),
    checkpoint: str | None = CHECKPOINT,
    break_lock: bool = BREAK_LOCK,
    plan: bool = typer.Option(
        False,
        "--plan",
        help="Print what the run would cost and exit: every unit (the same list the steps run) with its estimated "
        "GPU-hours, CPU-hours, wall hours, disk and peak RAM for --cases cases, then the totals and every figure "
        "used with its source (measured on our CPU, published GPU epoch times, or stated assumptions). Needs no "
        "data and no work folder; honours --steps, --variants, --folds and --checkpoint.",
    ),
    cases: int | None = typer.Option(
        None,
        "--cases",
        help="With --plan: cohort size (default: the config's: synth n, the cohort folder's cases, else the "
        "baseline fold files' cases; PANORAMA 2238).",
    ),
    gpu: str | None = typer.Option(
        None,
        "--gpu",
        help="With --plan: the GPU whose published nnU-Net epoch time prices GPU work: A100-40GB (default), "
        "V100-32GB-SXM3, V100-32GB-PCIe, RTX-2080ti (those of the basis file).",
    ),
    basis: Path | None = typer.Option(
        None, "--basis", help="With --plan: cost basis JSON (default training/configs/costs/basis.json)."
    ),
    output_format: str = typer.Option("text", "--format", help="With --plan: text, json or csv."),
    measured_run: Path | None = typer.Option(
        None,
        "--measured-run",
        help="With --plan: the config of a finished run (e.g. the real-size rehearsal) whose measured unit costs "
        "(<work_dir>/experiment/costs/) replace the basis's CPU rates for the same steps, scaled per case or CT "
        "voxel of its cohort; its training CPU-s per iteration is printed beside, never used as GPU time.",
    ),
) -> None:
    """The cross-validated ablation study end to end: every fold of Stage 1 → out-of-fold masks → global features
    and per-fold feature selection → maps → every variant × fold of Stage 2 (with snapshots) → PI-CAI checkpoint
    selection through the prediction pipeline → cross-validated predictions through the container's code → the
    ablation table (AUROC, AP, PI-CAI score with 95% CIs, paired tests against base) and report.html. The table is
    the final checkpoints' (<work_dir>/evaluation_final) unless experiment.checkpoint or --checkpoint says picai;
    the PI-CAI-selected checkpoints' table (the paper's protocol, <work_dir>/evaluation) is written beside it.

    Resumable: finished units are in the run ledger (<work_dir>/experiment/ledger) and skipped. Many machines:
    share the work folder and split by --folds/--steps (e.g. `--steps stage1 --folds 3` per GPU node): planning
    and preprocessing of a dataset run once, under a lock in its nnUNet_preprocessed folder that the other jobs
    wait for; a dead job's lock on another machine is removed with --break-lock.

    Before anything runs: `--plan [--cases N]` prints every unit with its estimated GPU-hours, CPU-hours, disk and
    peak RAM and the source of every figure (training/README.md, "What a run will cost").
    """
    from pdacrad_train.radiomics_config import load_radiomics_config

    def _list(value: str | None) -> list[str] | None:
        return None if value is None else [v.strip() for v in value.split(",") if v.strip()]

    if plan:
        with exit_on_error():
            cfg = with_checkpoint(load_config(config, work_dir), checkpoint)
            fold_list = _folds(folds)
            from pdacrad_train.cost_report import PlanRequest, render_plan

            request = PlanRequest(
                radiomics_config, cases, gpu, basis, output_format, _list(variants), fold_list, _list(steps),
                measured_run,
            )  # fmt: skip
            text = render_plan(cfg, request)
        typer.echo(text)
        return
    with step(config, work_dir) as (cfg, ws):
        cfg = with_checkpoint(cfg, checkpoint)
        if allow_gt_masks:
            cfg = dataclasses.replace(
                cfg, experiment=dataclasses.replace(cfg.experiment, allow_gt_masks=True)
            )
        if break_lock:
            _break_locks(ws)
        if status:
            for line in ws.ledger.status_lines():
                typer.echo(line)
            return
        from pdacrad_train.experiment import STEPS, run_experiment

        fold_list = _folds(folds)
        report = run_experiment(
            cfg,
            ws,
            load_radiomics_config(cfg, radiomics_config),
            _list(variants),
            fold_list,
            _list(steps) or STEPS,
        )
        if report is not None:
            typer.echo(f"→ {report}")


def select_checkpoint_command(
    config: Path = CONFIG,
    work_dir: Path | None = WORK_DIR,
    variants: str | None = typer.Option(
        None, "--variants", help="Comma-separated Stage-2 variants (default: the config's)."
    ),
    folds: str | None = typer.Option(None, "--folds", help="Comma-separated folds, e.g. 0,1 (default: all)."),
    radiomics_config: Path | None = typer.Option(
        None, "--radiomics-config", help="Radiomics settings YAML (default: <config stem>.radiomics.yaml)."
    ),
) -> None:
    """PI-CAI checkpoint selection of trained Stage-2 fold models, offline (`experiment --steps select-checkpoint`).

    Every snapshot (checkpoint_epoch_NNNN.pth) and checkpoint_final.pth of each fold predicts the fold's validation
    cases through the prediction pipeline (ROI, pancreas restriction, mirroring: what `predict` and the container
    do) and is scored 0.5·(AUROC + AP) by picai_eval; the best is copied to checkpoint_best_picai.pth, the history
    goes to picai_selection.json. Leaves the final checkpoint's predictions in cv_predictions_final and the
    selected one's in cv_predictions. Resumable; runs on any machine that shares the work folder (run.device).
    """
    from pdacrad_train.experiment import run_experiment
    from pdacrad_train.radiomics_config import load_radiomics_config

    with step(config, work_dir) as (cfg, ws):
        try:
            fold_list = None if folds is None else [int(f) for f in _split(folds)]
        except ValueError:
            raise InvalidInputError(f"--folds: expected comma-separated integers, got {folds!r}.") from None
        run_experiment(
            cfg,
            ws,
            load_radiomics_config(cfg, radiomics_config),
            _split(variants) if variants is not None else None,
            fold_list,
            ("select-checkpoint",),
        )


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _folds(value: str | None) -> list[int] | None:
    try:
        return None if value is None else [int(f) for f in _split(value)]
    except ValueError:
        raise InvalidInputError(f"--folds: expected comma-separated integers, got {value!r}.") from None


def export_command(
    config: Path = CONFIG,
    work_dir: Path | None = WORK_DIR,
    out: Path | None = typer.Option(None, "--out", help="Target folder (default: the config's export.dir)."),
) -> None:
    """Trained Stage-1/Stage-2 model folders → resources/stage1, resources/stage2 and resources/manifest.json.

    Only what inference needs (dataset.json, plans.json, fold_*/checkpoint without optimizer state); the
    manifest lists the sha256 of every file in the folder.
    """
    from pdacrad_train.steps.export import export

    with step(config, work_dir) as (cfg, ws):
        export(cfg, ws, out)
