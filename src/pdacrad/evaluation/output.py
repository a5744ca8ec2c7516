"""The evaluation's files: ``metrics.csv`` (one row per variant × fold), ``comparisons.csv`` (paired tests),
``evaluation.json`` (all numbers, versioned), ROC/PR/FROC PNGs and one self-contained ``report.html``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pdacrad.evaluation.html import render_html
from pdacrad.evaluation.layout import POOLED, variant_label
from pdacrad.evaluation.metrics import case_scores
from pdacrad.evaluation.plots import write_plots
from pdacrad.evaluation.study import METRICS, EvaluationResult
from pdacrad.io import atomic_write, atomic_write_json

FORMAT_VERSION = 1


@dataclass(frozen=True)
class EvaluationFiles:
    """Paths written by :func:`write_evaluation`."""

    metrics_csv: Path
    comparisons_csv: Path
    json: Path
    html: Path
    plots: dict[str, Path]


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


def _as_json(result: EvaluationResult, notes: Sequence[str]) -> dict[str, Any]:
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
    }


def write_evaluation(result: EvaluationResult, out_dir: Path, notes: Sequence[str] = ()) -> EvaluationFiles:
    """Write every evaluation file into ``out_dir`` (created), each atomically; ``notes`` (how the predictions
    were made) go into the JSON and the HTML report."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table, comparisons = metrics_table(result), comparisons_table(result)
    files = EvaluationFiles(
        out_dir / "metrics.csv",
        out_dir / "comparisons.csv",
        out_dir / "evaluation.json",
        out_dir / "report.html",
        write_plots(result.variants, out_dir),
    )
    atomic_write(files.metrics_csv, lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g"))
    atomic_write(files.comparisons_csv, lambda tmp: comparisons.to_csv(tmp, index=False, float_format="%.6g"))
    atomic_write_json(_as_json(result, notes), files.json)
    html = render_html(result, table, comparisons, files.plots, notes)
    atomic_write(files.html, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    return files
