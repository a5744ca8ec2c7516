"""The evaluation's files: ``metrics.csv`` (one row per variant × fold), ``comparisons.csv`` (paired tests),
``calibration.csv`` (Brier score, reliability bins), ``subgroups.csv`` (with a case table), ``evaluation.json``
(all numbers, versioned), the PNGs (curves, reliability, likelihood distributions, subgroup AUROCs, and with the
CTs at hand ``cases/<case>.png`` where the variants disagree most) and one self-contained ``report.html``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pdacrad.evaluation.calibration import Calibration, calibrate, calibration_table
from pdacrad.evaluation.casefigures import write_case_figures
from pdacrad.evaluation.html import render_html
from pdacrad.evaluation.metrics import case_scores, case_targets
from pdacrad.evaluation.plots import plot_reliability, plot_score_distributions, plot_subgroups, write_plots
from pdacrad.evaluation.study import METRICS, EvaluationResult
from pdacrad.evaluation.subgroups import SubgroupResult, case_groups, evaluate_subgroups, subgroups_table
from pdacrad.io import atomic_write, atomic_write_json
from pdacrad.io.predictions import POOLED, CasePrediction, variant_label

FORMAT_VERSION = 2  # 2: calibration, subgroups and case figures added


@dataclass(frozen=True)
class CaseSources:
    """What lets the report go beyond the metrics: a case table (:mod:`pdacrad.evaluation.subgroups`) for the
    subgroup AUROCs and case groups, and the predictions, CTs and label maps for the pictures of the
    ``n_figures`` cases on which the variants disagree most. Every field is optional."""

    table: pd.DataFrame | None = None
    predictions: Mapping[str, Sequence[CasePrediction]] | None = None
    images_dir: Path | None = None
    labels_dir: Path | None = None
    n_figures: int = 4


@dataclass(frozen=True)
class EvaluationFiles:
    """Paths written by :func:`write_evaluation` (``subgroups_csv`` ``None`` without a case table)."""

    metrics_csv: Path
    comparisons_csv: Path
    calibration_csv: Path
    subgroups_csv: Path | None
    json: Path
    html: Path
    plots: dict[str, Path]
    case_figures: list[Path] = field(default_factory=list)


def metrics_table(result: EvaluationResult) -> pd.DataFrame:
    """One row per variant and fold (``pooled`` last): cases, positives, AUROC, AP, score, FROC sensitivities,
    and for the pooled rows the bootstrap CI bounds."""
    rows = []
    for v in result.variants:
        for fold, s in v.scores.items():
            row: dict[str, Any] = {
                "variant": v.variant,
                "label": variant_label(v.variant),
                "fold": fold,
                "n_cases": s.n_cases,
                "n_positive": s.n_positive,
                "AUROC": s.auroc,
                "AP": s.ap,
                "score": s.score,
            }
            row.update({f"sens@{fp:g}FP": sens for fp, sens in s.froc})
            if fold == POOLED:
                for name in METRICS:
                    row[f"{name}_low"], row[f"{name}_high"] = v.intervals[name].low, v.intervals[name].high
            rows.append(row)
    return pd.DataFrame(rows)


def comparisons_table(result: EvaluationResult) -> pd.DataFrame:
    """One row per (variant, metric, method): the difference to the reference and its two-sided p-value."""
    return pd.DataFrame(
        [
            {
                "variant": c.variant,
                "reference": c.reference,
                "metric": t.metric,
                "method": t.method,
                "difference": t.difference,
                "p_value": t.p_value,
            }
            for c in result.comparisons
            for t in c.tests
        ],
        columns=["variant", "reference", "metric", "method", "difference", "p_value"],
    )


def _as_json(
    result: EvaluationResult,
    notes: Sequence[str],
    calibrations: Sequence[Calibration],
    subgroups: Sequence[SubgroupResult],
) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "config": asdict(result.config),
        "notes": list(notes),
        "variants": {
            v.variant: {
                "scores": {fold: asdict(s) for fold, s in v.scores.items()},
                "intervals": {name: asdict(ci) for name, ci in v.intervals.items()},
                "case_likelihood": {str(k): float(p) for k, p in case_scores(v.metrics).items()},
            }
            for v in result.variants
        },
        "comparisons": [
            {"variant": c.variant, "reference": c.reference, "tests": [asdict(t) for t in c.tests]}
            for c in result.comparisons
        ],
        "calibration": {c.variant: asdict(c) for c in calibrations},
        "subgroups": [asdict(r) for r in subgroups],
    }


def write_evaluation(
    result: EvaluationResult, out_dir: Path, notes: Sequence[str] = (), sources: CaseSources = CaseSources()
) -> EvaluationFiles:
    """Write every evaluation file into ``out_dir`` (created), each atomically; ``notes`` (how the predictions
    were made) go into the JSON and the HTML report; ``sources`` add subgroups and case pictures."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table, comparisons = metrics_table(result), comparisons_table(result)
    calibrations = [calibrate(v, result) for v in result.variants]
    subgroups = evaluate_subgroups(result, sources.table) if sources.table is not None else ()
    labels = {str(k): int(t) for k, t in case_targets(result.variants[0].metrics).items()}
    plots = write_plots(result.variants, out_dir)
    plots["reliability"] = plot_reliability(calibrations, out_dir / "reliability.png")
    plots["likelihoods"] = plot_score_distributions(
        result.variants, case_groups(labels, sources.table), out_dir / "likelihoods.png"
    )
    if subgroups:
        plots["subgroups"] = plot_subgroups(subgroups, out_dir / "subgroups.png")
    figures = []
    if sources.predictions is not None and sources.images_dir is not None and sources.labels_dir is not None:
        figures = write_case_figures(
            result,
            sources.predictions,
            sources.images_dir,
            sources.labels_dir,
            out_dir / "cases",
            sources.n_figures,
        )
    files = EvaluationFiles(
        out_dir / "metrics.csv",
        out_dir / "comparisons.csv",
        out_dir / "calibration.csv",
        out_dir / "subgroups.csv" if subgroups else None,
        out_dir / "evaluation.json",
        out_dir / "report.html",
        plots,
        figures,
    )
    calibration = calibration_table(calibrations)
    atomic_write(files.metrics_csv, lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g"))
    atomic_write(files.comparisons_csv, lambda tmp: comparisons.to_csv(tmp, index=False, float_format="%.6g"))
    atomic_write(files.calibration_csv, lambda tmp: calibration.to_csv(tmp, index=False, float_format="%.6g"))
    subgroup_rows = subgroups_table(subgroups)
    if files.subgroups_csv is not None:
        atomic_write(
            files.subgroups_csv, lambda tmp: subgroup_rows.to_csv(tmp, index=False, float_format="%.6g")
        )
    atomic_write_json(_as_json(result, notes, calibrations, subgroups), files.json)
    html = render_html(result, table, comparisons, plots, notes, calibration, subgroup_rows, figures)
    atomic_write(files.html, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    return files
