"""``pdacrad-train`` commands of the radiomics steps: ``global-features``, ``select``, ``maps``."""

from __future__ import annotations

from pathlib import Path

import typer

from pdacrad_train.cli.common import ALLOW_GT_MASKS, CONFIG, MASKS, SCHEDULER, WORK_DIR, step

#: ``--radiomics-config`` of ``global-features`` and ``select``.
RADIOMICS_CONFIG = typer.Option(
    None,
    "--radiomics-config",
    help="Radiomics settings YAML (default: <config stem>.radiomics.yaml beside --config, else the paper's).",
)


def global_features_command(
    config: Path = CONFIG,
    work_dir: Path | None = WORK_DIR,
    radiomics_config: Path | None = RADIOMICS_CONFIG,
    masks: Path | None = MASKS,
    allow_gt_masks: bool = ALLOW_GT_MASKS,
    scheduler: str | None = SCHEDULER,
) -> None:
    """Segment-level PyRadiomics features of the whole pancreas of every training case → features table.

    Pancreas = the largest component of each case's Stage-1 mask: --masks DIR, else the out-of-fold Stage-1
    predictions in <work_dir>/stage1_oof (every case must be there); the ground-truth pancreas only with
    --allow-gt-masks (or experiment.allow_gt_masks), with a warning. Parallel over cases with Dask; each case
    cached as <work_dir>/radiomics/global_features/<case>.json keyed by params, the mask file's sha256 and the
    CT, so a rerun computes only what is missing or stale. Writes <work_dir>/radiomics/global_features.csv
    (case × feature; an empty pancreas gives a row of NaN).
    """
    from pdacrad_train.parallel import map_compute
    from pdacrad_train.radiomics_config import load_radiomics_config
    from pdacrad_train.steps.radiomics.global_features import run_global_features

    with step(config, work_dir) as (cfg, ws):
        allow = allow_gt_masks or cfg.experiment.allow_gt_masks
        rcfg = load_radiomics_config(cfg, radiomics_config)
        compute = map_compute(cfg, rcfg, scheduler)
        table = run_global_features(ws, rcfg, compute, masks, allow_gt_masks=allow)
        typer.echo(f"→ {table}")


_SELECT_MODE = typer.Option(
    None,
    "--mode",
    help="per-fold (fit on each Stage-2 fold's training cases; no leakage) or pooled (the paper's: one fit on "
    "every case; leaks). Default: selection.mode of the radiomics config (per-fold).",
)


def select_command(
    config: Path = CONFIG,
    work_dir: Path | None = WORK_DIR,
    radiomics_config: Path | None = RADIOMICS_CONFIG,
    mode: str | None = _SELECT_MODE,
) -> None:
    """Select the Stage-2 global radiomics features and write radiomics.json + global_vectors.json.

    Pipeline: z-score → Mann–Whitney U (or t-test) with Benjamini–Hochberg FDR → SVM-RFE (linear SVM) to 10
    features. per-fold (default): one selection per fold of Stage 2's splits_final.json, fitted on that fold's
    training cases only → <work_dir>/radiomics/fold_<k>/. pooled (the paper's): one fit on all cases →
    <work_dir>/radiomics/pooled/, its leak stated in the report. Prints the radiomics-only SVM's cross-validated
    AUROC and AP with 95% bootstrap CIs. Needs `global-features` (and `splits` for per-fold) first.
    """
    from pdacrad_train.radiomics_config import load_radiomics_config
    from pdacrad_train.steps.radiomics.select import POOLED_LEAK, run_select

    with step(config, work_dir) as (cfg, ws):
        result = run_select(cfg, ws, load_radiomics_config(cfg, radiomics_config), mode)
        for sel in result.selections:
            name = "pooled" if sel.fold is None else f"fold {sel.fold}"
            typer.echo(f"{name}: {', '.join(sel.spec.global_features)}")
        typer.echo(f"radiomics-only SVM, {result.cv.n_folds}-fold stratified CV: {result.cv.summary()}")
        typer.echo(
            f"radiomics-only SVM, training-tree folds ({result.tree_cv.n_folds}): {result.tree_cv.summary()}"
        )
        if result.mode == "pooled":
            typer.echo(POOLED_LEAK)
        typer.echo(f"→ {result.summary.parent}")


_MAPS_RADIOMICS = typer.Option(
    None,
    "--radiomics-config",
    help="Radiomics settings YAML, for selection.mode, n_workers, scheduler and device (default: <config "
    "stem>.radiomics.yaml).",
)
_MAPS_MODE = typer.Option(
    None,
    "--mode",
    help="Which selections: per-fold (one dataset per fold) or pooled (default: selection.mode).",
)
_MAPS_DEVICE = typer.Option(
    None,
    "--device",
    help="Where maps are computed: auto, cpu or cuda (default: the radiomics config's device, else run.device).",
)


def maps_command(
    config: Path = CONFIG,
    work_dir: Path | None = WORK_DIR,
    radiomics_config: Path | None = _MAPS_RADIOMICS,
    mode: str | None = _MAPS_MODE,
    masks: Path | None = MASKS,
    allow_gt_masks: bool = ALLOW_GT_MASKS,
    scheduler: str | None = SCHEDULER,
    device: str | None = _MAPS_DEVICE,
) -> None:
    """Parametric maps of the selected map features → nnU-Net raw datasets of the map variants (maps, both).

    For each selection of the mode (pooled: <work_dir>/radiomics/pooled → dataset maps_dataset_id; per-fold:
    fold_<k> → maps_dataset_id + 1 + k, for the experiment's folds): CT crops and labels of the Stage-2 dataset
    (hard links) + channels _0001.. = radiomics.json map_features in order, computed on the ROI inside the
    largest component of each case's Stage-1 mask dilated by the selection's map_mask_dilation_mm (masks: --masks,
    else <work_dir>/stage1_oof; the ground truth only with --allow-gt-masks). Maps are cached per feature and
    case in <work_dir>/radiomics/map_cache (keyed by the feature's settings, the mask file's sha256 and the CT),
    shared between folds; a rerun computes only what is missing or stale. Needs convert, global-features and
    select first.
    """
    from pdacrad_train.parallel import map_compute
    from pdacrad_train.radiomics_config import load_radiomics_config
    from pdacrad_train.steps.radiomics.maps import run_maps

    with step(config, work_dir) as (cfg, ws):
        rcfg = load_radiomics_config(cfg, radiomics_config)
        allow = allow_gt_masks or cfg.experiment.allow_gt_masks
        compute = map_compute(cfg, rcfg, scheduler, device)
        datasets = run_maps(cfg, ws, compute, mode or rcfg.selection.mode, masks, allow)
        for fold, path in datasets.items():
            typer.echo(f"{'pooled' if fold is None else f'fold {fold}'} → {path}")
