"""``pdacrad-train analyze <step>``: radiomics statistics around the detector (``pdacrad.radiomics_stats``).

Each step reads tables (CSV or parquet; a features table + a clinical/labels table joined on ``case``) and
writes CSVs, PNGs and ``report.md`` into ``--out``. No config YAML: the inputs are tables, not the training tree.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from pdacrad.cli.plumbing import exit_on_error, fail

app = typer.Typer(
    help="Radiomics statistics: robustness (ICC), harmonisation (ComBat), model comparison, calibration & "
    "decision curves, survival. Tables in; CSV, PNG and report.md out.",
    no_args_is_help=True,
)

_OUT = typer.Option(..., "--out", "-o", help="Output folder (created).")
_FEATURES = typer.Option(..., "--features", "-f", help="Features table (.csv/.parquet), one row per case.")
_CLINICAL = typer.Option(..., "--clinical", help="Clinical/labels table (.csv/.parquet), one row per case.")
_ID = typer.Option("case", "--id-column", help="Case id column shared by the tables.")
_CLIN_VARS = typer.Option([], "--clinical-var", help="Clinical column to use as a predictor (repeatable).")
_SEED = typer.Option(0, "--seed", help="Random seed of folds, splits and bootstraps.")


def _done(paths: list[Path]) -> None:
    typer.echo("\n".join(str(p) for p in paths))


def _run(step: Callable[[], list[Path]]) -> None:
    with exit_on_error():
        _done(step())


@app.command("robustness")
def robustness_command(
    perturbed: Path = typer.Option(
        ...,
        "--perturbed",
        "-p",
        help="Long table: one row per case × perturbation (columns case, perturbation, …).",
    ),
    out: Path = _OUT,
    threshold: float = typer.Option(0.8, "--threshold", help="Keep features whose ICC is ≥ this."),
    icc: str = typer.Option("ICC(3,1)", "--icc", help="ICC deciding robustness: ICC(3,1) or ICC(2,1)."),
    id_column: str = _ID,
    perturbation_column: str = typer.Option("perturbation", "--perturbation-column"),
) -> None:
    """ICC(3,1) and ICC(2,1) per feature across segmentation perturbations; writes robust_features.txt (the
    optional first filter of `select`), icc.csv, icc.png, report.md."""
    from pdacrad.radiomics_stats.robustness import RobustnessConfig
    from pdacrad.radiomics_stats.steps import robustness_step

    if icc not in ("ICC(3,1)", "ICC(2,1)"):
        raise fail(f"--icc {icc!r}: choose ICC(3,1) or ICC(2,1)")
    config = RobustnessConfig(threshold, icc, id_column, perturbation_column)  # type: ignore[arg-type]
    _run(lambda: robustness_step(perturbed, out, config))


@app.command("harmonise")
def harmonise_command(
    train: Path = typer.Option(..., "--train", help="Training table: features, batch column and covariates."),
    out: Path = _OUT,
    batch: str = typer.Option(..., "--batch", help="Column naming the centre/scanner."),
    new: Path | None = typer.Option(
        None, "--new", help="Table of new cases to harmonise with the fitted model."
    ),
    categorical: list[str] = typer.Option([], "--categorical", help="Categorical covariate to preserve."),
    continuous: list[str] = typer.Option([], "--continuous", help="Continuous covariate to preserve."),
    non_parametric: bool = typer.Option(False, "--non-parametric", help="Non-parametric empirical Bayes."),
    id_column: str = _ID,
) -> None:
    """ComBat by centre/scanner fitted on training cases only, applied to new cases; before/after plots."""
    from pdacrad.radiomics_stats.steps import harmonisation_step

    _run(
        lambda: harmonisation_step(
            train, out, batch, new, categorical, continuous, not non_parametric, id_column
        )
    )


@app.command("compare-models")
def compare_models_command(
    features: Path = _FEATURES,
    clinical: Path = _CLINICAL,
    out: Path = _OUT,
    label: str = typer.Option("label", "--label", help="Binary 0/1 outcome column of the clinical table."),
    clinical_var: list[str] = _CLIN_VARS,
    model: list[str] = typer.Option(
        [], "--model", help="lasso, svm, random_forest, xgboost, mlp (default all)."
    ),
    outer_folds: int = typer.Option(5, "--outer-folds"),
    inner_folds: int = typer.Option(3, "--inner-folds"),
    n_estimators: int = typer.Option(300, "--n-estimators", help="Trees of random forest and XGBoost."),
    n_bootstrap: int = typer.Option(1000, "--n-bootstrap"),
    id_column: str = _ID,
    seed: int = _SEED,
) -> None:
    """Nested CV of LASSO-logistic, SVM, random forest, XGBoost, MLP: AUROC/AP with 95% CIs, DeLong vs the best,
    out-of-fold probabilities (input of `calibration`), ROC and SHAP summary plots."""
    from pdacrad.radiomics_stats.models import MODEL_NAMES, ComparisonConfig
    from pdacrad.radiomics_stats.steps import comparison_step

    config = ComparisonConfig(
        tuple(model) or MODEL_NAMES, outer_folds, inner_folds, n_bootstrap, n_estimators, seed
    )
    _run(lambda: comparison_step(features, clinical, out, label, id_column, clinical_var, config))


@app.command("calibration")
def calibration_command(
    predictions: Path = typer.Option(
        ...,
        "--predictions",
        help="Table with the label and probability columns (e.g. oof_probabilities.csv).",
    ),
    out: Path = _OUT,
    label: str = typer.Option("label", "--label"),
    probability: list[str] = typer.Option(
        [], "--probability", help="Probability column (default: all numeric)."
    ),
    recalibrate: str | None = typer.Option(None, "--recalibrate", help="platt or isotonic (cross-fitted)."),
    n_bins: int = typer.Option(
        10, "--bins", help="Bins of the reliability diagram and Hosmer–Lemeshow groups."
    ),
    id_column: str = _ID,
) -> None:
    """Reliability diagram, Brier, calibration slope/intercept, Hosmer–Lemeshow, optional recalibration, and
    decision-curve analysis (net benefit vs treat-all / treat-none)."""
    from pdacrad.radiomics_stats.steps import calibration_step

    if recalibrate not in (None, "platt", "isotonic"):
        raise fail(f"--recalibrate {recalibrate!r}: choose platt or isotonic")
    _run(lambda: calibration_step(predictions, out, label, probability, recalibrate, id_column, n_bins))


@app.command("survival")
def survival_command(
    features: Path = _FEATURES,
    clinical: Path = _CLINICAL,
    out: Path = _OUT,
    time: str = typer.Option(
        "time", "--time", help="Follow-up time column (days by default, see --horizons)."
    ),
    event: str = typer.Option("event", "--event", help="Event indicator column (1 = event, 0 = censored)."),
    clinical_var: list[str] = _CLIN_VARS,
    horizons: list[float] = typer.Option(
        [365.25, 730.5, 1095.75], "--horizon", help="Time-dependent AUC times."
    ),
    n_estimators: int = typer.Option(200, "--n-estimators", help="Trees of the random survival forest."),
    test_fraction: float = typer.Option(0.3, "--test-fraction"),
    id_column: str = _ID,
    seed: int = _SEED,
) -> None:
    """Penalised Cox and random survival forest: C-index with CI, time-dependent AUC, Kaplan–Meier curves of
    risk groups split at the training median, log-rank test."""
    from pdacrad.radiomics_stats.steps import survival_step
    from pdacrad.radiomics_stats.survival import SurvivalConfig

    config = SurvivalConfig(tuple(horizons), test_fraction, n_estimators, seed=seed)
    _run(lambda: survival_step(features, clinical, out, time, event, id_column, clinical_var, config))


@app.command("map-contrast")
def map_contrast_command(
    dataset: Path = typer.Option(
        ..., "--dataset", help="nnU-Net raw Stage-2 dataset folder (dataset.json, imagesTr/, labelsTr/)."
    ),
    out: Path = _OUT,
    cases: Path | None = typer.Option(
        None,
        "--cases",
        help="Case table with a 'case' and a 'lesion_kind' column (e.g. the cohort's cases.csv).",
    ),
) -> None:
    """How visible each lesion is in each input channel (CT and every map): voxel AUROC of lesion vs the rest of
    the pancreas as |AUROC − 0.5| × 2, per case and its median per lesion kind; CSVs and a heat map."""
    from pdacrad.evaluation.subgroups import read_case_table
    from pdacrad.radiomics_stats.map_contrast import map_contrast, write_map_contrast

    _run(lambda: write_map_contrast(map_contrast(dataset, read_case_table(cases) if cases else None), out))
