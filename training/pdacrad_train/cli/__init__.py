"""The ``pdacrad-train`` command line: one resumable step per sub-command, configured by a YAML in
``training/configs/``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from pdacrad.cli.plumbing import new_app
from pdacrad.errors import InvalidInputError
from pdacrad_train.cli import analyze
from pdacrad_train.cli.common import CHECKPOINT as _CHECKPOINT
from pdacrad_train.cli.common import CONFIG as _CONFIG
from pdacrad_train.cli.common import WORK_DIR as _WORK_DIR
from pdacrad_train.cli.common import step as _step
from pdacrad_train.config import with_checkpoint
from pdacrad_train.steps import evaluate, record
from pdacrad_train.steps.radiomics import global_features, select
from pdacrad_train.steps.radiomics import maps as maps_step

app = new_app(
    "pdacrad-train",
    help=(
        "Training tree of pdacrad. `experiment` runs the whole cross-validated study (all folds, out-of-fold "
        "Stage 1, four Stage-2 variants, ablation table); its steps stay callable alone, in order: convert → splits "
        "→ fit → global-features → select → maps → fit → evaluate → export. Each step is resumable and reads the "
        "same config YAML "
        "(training/configs/synthetic-demo.yaml runs end to end on CPU; panorama.yaml is the real recipe). "
        "nnU-Net's nnUNet_raw, nnUNet_preprocessed and nnUNet_results environment variables are respected."
    ),
    # The training tree logs under its own package name, through the same handler as pdacrad's.
    log_packages=("pdacrad", "pdacrad_train"),
)


def main() -> None:
    """Console-script entry point."""
    app()


@app.command("convert")
def convert_command(config: Path = _CONFIG, work_dir: Path | None = _WORK_DIR) -> None:
    """PANORAMA layout (imagesTr/<case>_0000.nii.gz, labelsTr/<case>.nii.gz, labels 0–6) → nnU-Net raw datasets.

    Stage 1: whole CT with a binary pancreas label (labels 1, 4, 5 → 1). Stage 2: CT and labels 0–6 cropped
    around the ground-truth pancreas with margins x 100 / y 50 / z 15 mm, clipped to the image. With
    `cohort.source: synth` the synthetic cohort is generated first. Writes <work_dir>/cases.csv. Resumable.
    """
    from pdacrad_train.steps.prepare import convert

    with _step(config, work_dir) as (cfg, ws):
        convert(cfg, ws)


@app.command("splits")
def splits_command(config: Path = _CONFIG, work_dir: Path | None = _WORK_DIR) -> None:
    """Cross-validation folds → nnUNet_preprocessed/<dataset>/splits_final.json for both stages.

    Stratified by lesion-size bins of 500 voxels (bin 0 = negatives), seeded; or the PANORAMA baseline fold
    files with `splits.source: baseline`. Needs `convert` first.
    """
    from pdacrad_train.splits import write_splits

    with _step(config, work_dir) as (cfg, ws):
        write_splits(cfg, ws)


@app.command("fit")
def fit_command(
    config: Path = _CONFIG,
    work_dir: Path | None = _WORK_DIR,
    stage: list[str] = typer.Option(["1", "2"], "--stage", "-s", help="Stage(s) to fit: 1, 2 (repeatable)."),
    fold: str | None = typer.Option(
        None,
        "--fold",
        "-f",
        help="Fold to train: 0..n_folds-1 or 'all' (default: the stage's config `fold`).",
    ),
) -> None:
    """nnU-Net planning (config's target spacing and plans overrides), preprocessing and training of one fold.

    Training is nnU-Net's own `run_training` (what `nnUNetv2_train` runs) with the configured trainer class (a
    variant from pdacrad.nnunet_ext, found through nnUNet_extTrainer), including nnU-Net's final validation.
    Every part is skipped when its output exists; training resumes from checkpoint_latest.pth. For all folds, the
    out-of-fold masks and the four Stage-2 variants, use `experiment`.
    """
    from pdacrad_train.nnunet_run import fit_stage
    from pdacrad_train.steps.prepare import stage_of

    with _step(config, work_dir) as (cfg, ws):
        chosen = None if fold is None else fold if fold == "all" else int(fold)
        for key in stage:
            fit_stage(stage_of(cfg, key), cfg.run, ws, chosen)


@app.command("experiment")
def experiment_command(
    config: Path = _CONFIG,
    work_dir: Path | None = _WORK_DIR,
    variants: str | None = typer.Option(
        None,
        "--variants",
        help="Comma-separated Stage-2 variants: base,maps,global,both (default: the config's).",
    ),
    folds: str | None = typer.Option(None, "--folds", help="Comma-separated folds, e.g. 0,1 (default: all)."),
    steps: str | None = typer.Option(
        None,
        "--steps",
        help="Comma-separated steps: prepare,stage1,oof,radiomics,stage2,predict,evaluate (default: all, in order).",
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
    checkpoint: str | None = _CHECKPOINT,
) -> None:
    """The cross-validated ablation study end to end: every fold of Stage 1 → out-of-fold masks → global features
    and per-fold feature selection → maps → every variant × fold of Stage 2 (PI-CAI checkpoint selection) →
    cross-validated predictions through the container's code → the ablation table (AUROC, AP, PI-CAI score with
    95% CIs, paired tests against base) and report.html in <work_dir>/evaluation. With --checkpoint final the
    predict and evaluate steps use each fold's final checkpoint instead (cv_predictions_final,
    evaluation_final); run both to see what checkpoint selection on the scored fold adds.

    Resumable: finished units are in the run ledger (<work_dir>/experiment/ledger) and skipped. Many machines:
    share the work folder and split by --folds/--steps (e.g. `--steps stage1 --folds 3` per GPU node).
    """
    from pdacrad_train.experiment import STEPS, ledger_of, run_experiment
    from pdacrad_train.radiomics_config import load_radiomics_config

    def _list(value: str | None) -> list[str] | None:
        return None if value is None else [v.strip() for v in value.split(",") if v.strip()]

    with _step(config, work_dir) as (cfg, ws):
        cfg = with_checkpoint(cfg, checkpoint)
        if allow_gt_masks:
            cfg = dataclasses.replace(
                cfg, experiment=dataclasses.replace(cfg.experiment, allow_gt_masks=True)
            )
        if status:
            for line in ledger_of(ws).status_lines():
                typer.echo(line)
            return
        try:
            fold_list = None if folds is None else [int(f) for f in _list(folds) or []]
        except ValueError:
            raise InvalidInputError(f"--folds: expected comma-separated integers, got {folds!r}.") from None
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


@app.command("export")
def export_command(
    config: Path = _CONFIG,
    work_dir: Path | None = _WORK_DIR,
    out: Path | None = typer.Option(None, "--out", help="Target folder (default: the config's export.dir)."),
) -> None:
    """Trained Stage-1/Stage-2 model folders → resources/stage1, resources/stage2 and resources/manifest.json.

    Only what inference needs (dataset.json, plans.json, fold_*/checkpoint without optimizer state); the
    manifest lists the sha256 of every file in the folder.
    """
    from pdacrad_train.steps.export import export

    with _step(config, work_dir) as (cfg, ws):
        export(cfg, ws, out)


app.command("global-features")(global_features.command)
app.command("select")(select.command)
app.command("maps")(maps_step.command)
app.command("evaluate")(evaluate.command)
app.command("record")(record.command)
app.add_typer(analyze.app, name="analyze")
