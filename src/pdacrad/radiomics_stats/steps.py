"""The five analysis steps as table-in / artefacts-out functions (the ``pdacrad-train analyze`` commands call
these). Each reads a features table (+ a clinical/labels table joined on the case id), writes CSVs, PNGs and a
short ``report.md`` into ``out_dir``, and returns the paths written."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pdacrad.radiomics_stats import figures
from pdacrad.radiomics_stats.tables import (
    join_cases,
    markdown_table,
    numeric_feature_columns,
    read_table,
    require_columns,
    write_report,
)

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


def robustness_step(perturbed: Path, out_dir: Path, config: object | None = None) -> list[Path]:
    """ICC per feature of a long (case × perturbation) table → ``icc.csv``, ``robust_features.txt``,
    ``icc.png``, ``report.md``."""
    from pdacrad.radiomics_stats.robustness import RobustnessConfig, feature_icc

    cfg = config if isinstance(config, RobustnessConfig) else RobustnessConfig()
    result = feature_icc(read_table(perturbed), config=cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "icc.csv", out_dir / "robust_features.txt"]
    result.table.to_csv(paths[0], index=False)
    paths[1].write_text("".join(f"{name}\n" for name in result.robust), encoding="utf-8")
    paths.append(figures.icc_plot(result.table, cfg.icc, cfg.threshold, out_dir / "icc.png"))
    worst = result.table.sort_values(cfg.icc).head(10)[["feature", "ICC(3,1)", "ICC(2,1)", "robust"]]
    paths.append(
        write_report(
            out_dir / "report.md",
            "Feature robustness (ICC)",
            [
                f"{len(result.robust)} of {len(result.table)} features have {cfg.icc} ≥ {cfg.threshold:g} "
                f"(pingouin intraclass_corr, cases × perturbations).",
                "",
                "Least robust features:",
                "",
                markdown_table(worst),
                "",
                "![ICC](icc.png)",
            ],
        )
    )
    return paths


def harmonisation_step(
    train: Path,
    out_dir: Path,
    batch_column: str,
    new: Path | None = None,
    categorical: Sequence[str] = (),
    continuous: Sequence[str] = (),
    parametric: bool = True,
    id_column: str = "case",
) -> list[Path]:
    """ComBat fitted on the ``train`` table (features + batch + covariates), applied to it and to ``new``
    → ``harmonised_train.csv``, ``harmonised_new.csv``, ``combat_train.png``, ``report.md``."""
    from pdacrad.radiomics_stats.harmonisation import apply_combat, fit_combat

    table = read_table(train)
    exclude = (id_column, batch_column, *categorical, *continuous)
    features = numeric_feature_columns(table, exclude=exclude)
    model, harmonised = fit_combat(table, features, batch_column, categorical, continuous, parametric)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "harmonised_train.csv"]
    harmonised.to_csv(paths[0], index=False)
    paths.append(
        figures.batch_boxplots(table, harmonised, features, batch_column, out_dir / "combat_train.png")
    )
    lines = [
        f"ComBat ({'parametric' if parametric else 'non-parametric'} empirical Bayes, neuroCombat) on "
        f"{len(table)} training cases, {len(features)} features, batches {list(model.batches)}; preserved "
        f"covariates: {[*categorical, *continuous] or 'none'}.",
        "",
        "![before/after](combat_train.png)",
    ]
    if new is not None:
        new_table = read_table(new)
        paths.insert(1, out_dir / "harmonised_new.csv")
        apply_combat(model, new_table, batch_column).to_csv(paths[1], index=False)
        lines.insert(1, f"Applied to {len(new_table)} new cases with the training estimates.")
    paths.append(write_report(out_dir / "report.md", "ComBat harmonisation", lines))
    return paths


def _features_and_labels(
    features: Path, clinical: Path, label_column: str, id_column: str, clinical_columns: Sequence[str]
) -> tuple[pd.DataFrame, list[str]]:
    clinical_table = read_table(clinical)
    require_columns(clinical_table, [label_column, *clinical_columns], "clinical table")
    clinical_table = clinical_table[[id_column, label_column, *clinical_columns]]
    joined = join_cases(read_table(features), clinical_table, id_column)
    columns = numeric_feature_columns(joined, exclude=(id_column, label_column))
    return joined, columns


def comparison_step(
    features: Path,
    clinical: Path,
    out_dir: Path,
    label_column: str = "label",
    id_column: str = "case",
    clinical_columns: Sequence[str] = (),
    config: object | None = None,
    shap_samples: int = 100,
) -> list[Path]:
    """Nested-CV model comparison → ``model_comparison.csv``, ``oof_probabilities.csv``, ``roc.png``,
    ``shap_summary.png`` (best model refitted on all cases), ``report.md``."""
    import pandas as pd

    from pdacrad.radiomics_stats.models import (
        ComparisonConfig,
        compare_models,
        default_models,
        fit_final,
        shap_values,
    )

    cfg = config if isinstance(config, ComparisonConfig) else ComparisonConfig()
    joined, columns = _features_and_labels(features, clinical, label_column, id_column, clinical_columns)
    x, y = joined[columns], joined[label_column].to_numpy()
    result = compare_models(x, y, cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = result.table()
    paths = [out_dir / "model_comparison.csv", out_dir / "oof_probabilities.csv"]
    table.to_csv(paths[0], index=False)
    oof = pd.DataFrame({id_column: joined[id_column], label_column: y, "outer_fold": result.outer_fold})
    for r in result.results:
        oof[r.name] = r.probability
    oof.to_csv(paths[1], index=False)
    paths.append(figures.roc_curves(y, {r.name: r.probability for r in result.results}, out_dir / "roc.png"))
    final = fit_final(default_models(cfg)[result.best], x, y, cfg)
    paths.append(
        figures.shap_summary(
            shap_values(final, x, n_samples=shap_samples, seed=cfg.seed), out_dir / "shap_summary.png"
        )
    )
    paths.append(
        write_report(
            out_dir / "report.md",
            "Model comparison (nested CV)",
            [
                f"{len(y)} cases ({int(y.sum())} positive), {len(columns)} variables; {cfg.outer_folds} outer × "
                f"{cfg.inner_folds} inner stratified folds; 95% CIs by {cfg.n_bootstrap} bootstrap resamples; DeLong "
                f"test against the best model (**{result.best}**).",
                "",
                markdown_table(table),
                "",
                "![ROC](roc.png)",
                "",
                "![SHAP](shap_summary.png)",
            ],
        )
    )
    return paths


def calibration_step(
    predictions: Path,
    out_dir: Path,
    label_column: str = "label",
    probability_columns: Sequence[str] = (),
    recalibration: str | None = None,
    id_column: str = "case",
    n_bins: int = 10,
) -> list[Path]:
    """Calibration and decision curves of one or more probability columns of a predictions table (e.g.
    ``oof_probabilities.csv``) → ``calibration.csv``, ``decision_curve.csv``, ``reliability.png``,
    ``decision_curve.png``, ``report.md``. With ``recalibration`` (platt|isotonic), each column also gets a
    cross-fitted recalibrated version ``<column>_<method>``."""
    import pandas as pd

    from pdacrad.radiomics_stats.recalibration import (
        calibration_metrics,
        cross_fitted_recalibration,
        decision_curve,
    )

    table = read_table(predictions)
    require_columns(table, [label_column, *probability_columns], "predictions table")
    names = list(probability_columns) or [
        c for c in numeric_feature_columns(table, exclude=(id_column, label_column, "outer_fold"))
    ]
    y = table[label_column].to_numpy()
    probabilities = {name: table[name].to_numpy(float) for name in names}
    if recalibration:
        for name in names:
            probabilities[f"{name}_{recalibration}"] = cross_fitted_recalibration(
                y,
                probabilities[name],
                recalibration,  # type: ignore[arg-type]
            )
    rows, curves, dca = [], {}, {}
    for name, p in probabilities.items():
        result = calibration_metrics(y, p, n_bins)
        rows.append(
            {
                "model": name,
                "brier": result.brier,
                "calibration_slope": result.slope,
                "calibration_intercept": result.intercept,
                "hosmer_lemeshow_chi2": result.hl_statistic,
                "hosmer_lemeshow_p": result.hl_p,
                "hosmer_lemeshow_groups": result.hl_groups,
            }
        )
        curves[name], dca[name] = result.curve, decision_curve(y, p)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = pd.DataFrame(rows)
    paths = [out_dir / "calibration.csv", out_dir / "decision_curve.csv"]
    summary.to_csv(paths[0], index=False)
    pd.concat([c.assign(model=n) for n, c in dca.items()]).to_csv(paths[1], index=False)
    paths.append(figures.reliability_diagram(curves, probabilities, out_dir / "reliability.png"))
    paths.append(figures.decision_curve_plot(dca, out_dir / "decision_curve.png"))
    paths.append(
        write_report(
            out_dir / "report.md",
            "Calibration and decision curves",
            [
                f"{len(y)} cases, prevalence {y.mean():.3f}.",
                "",
                markdown_table(summary),
                "",
                "![reliability](reliability.png)",
                "",
                "![decision curve](decision_curve.png)",
            ],
        )
    )
    return paths


def survival_step(
    features: Path,
    clinical: Path,
    out_dir: Path,
    time_column: str = "time",
    event_column: str = "event",
    id_column: str = "case",
    clinical_columns: Sequence[str] = (),
    config: object | None = None,
) -> list[Path]:
    """Penalised Cox and random survival forest → ``survival.csv``, ``km_<model>.png``, ``report.md``."""
    from pdacrad.radiomics_stats.survival import SurvivalConfig, survival_analysis, survival_array

    cfg = config if isinstance(config, SurvivalConfig) else SurvivalConfig()
    clinical_table = read_table(clinical)
    require_columns(clinical_table, [time_column, event_column, *clinical_columns], "clinical table")
    joined = join_cases(
        read_table(features),
        clinical_table[[id_column, time_column, event_column, *clinical_columns]],
        id_column,
    )
    columns = numeric_feature_columns(joined, exclude=(id_column, time_column, event_column))
    y = survival_array(joined[event_column], joined[time_column])
    result = survival_analysis(joined[columns], y, cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = result.table()
    paths = [out_dir / "survival.csv"]
    table.to_csv(paths[0], index=False)
    for r in result.results:
        paths.append(
            figures.kaplan_meier_plot(
                result.y_test, r.test_risk > r.cutoff, r.name, out_dir / f"km_{r.name}.png", r.logrank_p
            )
        )
    paths.append(
        write_report(
            out_dir / "report.md",
            "Survival",
            [
                f"{len(y)} cases ({int(joined[event_column].astype(bool).sum())} events), {len(columns)} variables; "
                f"fitted on {len(y) - len(result.test_index)}, evaluated on {len(result.test_index)} held-out cases. "
                "Risk groups split at the training median risk.",
                "",
                markdown_table(table),
                "",
                *(f"![KM {r.name}](km_{r.name}.png)" for r in result.results),
            ],
        )
    )
    return paths
