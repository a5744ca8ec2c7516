"""``pdacrad-train`` commands on a study's results: ``evaluate``, ``calibrate`` and ``record``."""

from __future__ import annotations

from pathlib import Path

import typer

from pdacrad_train.cli.common import CHECKPOINT, CONFIG, WORK_DIR, step
from pdacrad_train.config import with_checkpoint

#: ``--labels``: the reference label maps of ``evaluate`` and ``calibrate``.
LABELS = typer.Option(
    None, "--labels", help="Label maps <case>.nii.gz, label 1 = PDAC (default: the cohort's labelsTr)."
)


def evaluate_command(
    config: Path = CONFIG,
    work_dir: Path | None = WORK_DIR,
    predictions: Path | None = typer.Option(
        None,
        "--predictions",
        help="CV predictions root (default <work_dir>/cv_predictions_final for the final checkpoints, "
        "<work_dir>/cv_predictions with --checkpoint picai).",
    ),
    labels: Path | None = LABELS,
    out: Path | None = typer.Option(
        None, "--out", help="Output folder (default <work_dir>/evaluation_final, or evaluation with picai)."
    ),
    n_bootstrap: int | None = typer.Option(
        None,
        "--n-bootstrap",
        min=10,
        help="Bootstrap replicates for CIs and tests (default: the config's experiment.n_bootstrap).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap resampling."),
    cases: Path | None = typer.Option(
        None,
        "--cases",
        help="Case table CSV with a 'case' column (lesion_kind, lesion_diameter_mm, 0/1 confounder flags) for "
        "the subgroup AUROCs (default: the cohort's cases.csv if present).",
    ),
    images: Path | None = typer.Option(
        None,
        "--images",
        help="CTs <case>_0000.nii.gz for the case pictures (default: the cohort's imagesTr).",
    ),
    case_figures: int = typer.Option(
        4, "--case-figures", min=0, help="Pictures of the cases on which the variants disagree most."
    ),
    checkpoint: str | None = CHECKPOINT,
) -> None:
    """PI-CAI metrics (AUROC, AP, score = (AUROC+AP)/2, FROC) per fold and pooled for each ablation variant.

    Reads <predictions>/<variant>/fold_<k>/<case>/detection_map.mha and likelihood.json for the variants
    base, maps, global, both (any present). Reports stratified-bootstrap 95% CIs, paired tests of each
    variant against base (DeLong and paired bootstrap), ROC/PR/FROC plots, calibration (Brier score,
    reliability diagram), AUROC per subgroup of a case table (lesion kind, size, confounders), pictures of
    the cases where the variants disagree, and one self-contained report.html in <work_dir>/evaluation_final
    (final checkpoints, the default) or <work_dir>/evaluation (--checkpoint picai).
    """
    from pdacrad_train.steps.evaluate import run_evaluate

    with step(config, work_dir) as (cfg, ws):
        result, files = run_evaluate(
            with_checkpoint(cfg, checkpoint),
            ws,
            predictions,
            labels,
            out,
            n_bootstrap,
            seed,
            cases,
            images,
            case_figures,
        )
        for v in result.variants:
            ci = v.intervals
            typer.echo(
                f"{v.variant:>9}: AUROC {ci['AUROC']}  AP {ci['AP']}  score {ci['score']}  (n={v.pooled.n_cases})"
            )
        for c in result.comparisons:
            tests = ", ".join(
                f"{t.metric} {t.method.split(' (')[0]} Δ={t.difference:+.3f} p={t.p_value:.3g}"
                for t in c.tests
            )
            typer.echo(f"{c.variant} vs {c.reference}: {tests}")
        typer.echo(f"→ {files.html}")


def calibrate_command(
    config: Path = CONFIG,
    work_dir: Path | None = WORK_DIR,
    predictions: Path | None = typer.Option(
        None,
        "--predictions",
        help="CV predictions root (default <work_dir>/cv_predictions, or cv_predictions_final with --checkpoint "
        "final).",
    ),
    labels: Path | None = LABELS,
    out: Path | None = typer.Option(
        None, "--out", help="Output folder (default <work_dir>/calibration, or calibration_final)."
    ),
    variant: list[str] | None = typer.Option(
        None, "--variant", help="Calibrate only this variant (repeatable; default: every variant found)."
    ),
    n_bootstrap: int | None = typer.Option(
        None,
        "--n-bootstrap",
        min=10,
        help="Bootstrap replicates of the Brier CIs (default: the config's experiment.n_bootstrap).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap resampling."),
    checkpoint: str | None = CHECKPOINT,
) -> None:
    """Calibrate each variant's likelihood (Platt scaling on its logit) on its out-of-fold CV predictions.

    Fits the pooled map that `export` ships (<out>/<variant>/calibration.json, applied by process.py; written as
    calibration.rejected.json, not exported, unless the cross-fitted Brier change's 95% CI lies below 0) and
    evaluates calibration by cross-fitting: fold k's likelihoods mapped by a map fitted on the other folds.
    Writes the Brier score before and after with bootstrap 95% CIs, reliability diagrams (PNG), the pooled and
    within-fold AUROC before and after (unchanged within a fold: the map is increasing), summary.csv,
    reliability.csv, cases.csv and calibration.json.
    """
    from pdacrad_train.steps.calibrate import run_calibrate

    with step(config, work_dir) as (cfg, ws):
        results = run_calibrate(
            with_checkpoint(cfg, checkpoint), ws, predictions, labels, out, variant, n_bootstrap, seed
        )
        for name, r in results.items():
            typer.echo(
                f"{name:>9}: Brier {r.raw.brier} raw → {r.cross_fitted.brier} cross-fitted "
                f"(Δ {r.brier_change}); AUROC pooled {r.auroc_raw:.3f} → {r.auroc_cross_fitted:.3f}, "
                f"within folds max |Δ| {r.fold_auroc_change:.1e}"
            )


def record_command(
    config: Path = CONFIG,
    work_dir: Path | None = WORK_DIR,
    out: Path = typer.Option(..., "--out", help="Folder to write the record into (e.g. docs/ablation)."),
) -> None:
    """Copy a study's small, table-making artefacts out of its work folder: every finished CV prediction, the
    cohort's labels and case table, each feature selection, each Stage-2 model's PI-CAI checkpoint choice,
    the run ledger and the evaluation. `pdacrad-train evaluate --predictions <out>/cv_predictions --labels
    <out>/labels --cases <out>/cases.csv` then reproduces the table without the work folder.
    """
    from pdacrad_train.steps.record import run_record

    with step(config, work_dir) as (cfg, ws):
        counts = run_record(cfg, ws, out)
        typer.echo(", ".join(f"{name} {n}" for name, n in counts.items()) + f" → {out}")
