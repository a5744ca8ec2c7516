"""One self-contained HTML report: the metrics table, the paired tests and the plots embedded as base64 PNGs
(no external files, so it can be mailed or attached to an issue as it is)."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from pdacrad import __version__
from pdacrad.evaluation.study import EvaluationResult
from pdacrad.io.predictions import variant_label

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
.table-wrap { max-width: 100%; overflow-x: auto; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
.nowrap { white-space: nowrap; }
figure { display: inline-block; margin: 0.5em; max-width: 100%; } img { max-width: 100%; }
.note { color: #555; font-size: 0.9em; }
"""
# Why the tables look as they do: a reader opens report.html in a browser window, so every table fits a laptop's
# width (1280 px) without scrolling: an estimate and its CI share one cell that never breaks inside the interval,
# headers wrap, and nothing is shown twice or left empty. The CSVs keep one number per column for programs.


def _table_html(table: pd.DataFrame, cells_are_html: bool = False) -> str:
    """``table`` as an HTML table in a container that scrolls sideways rather than widening the page; with
    ``cells_are_html`` the cells are inserted as they are (the caller escaped them)."""
    rendered = table.to_html(
        index=False, float_format=lambda x: f"{x:.3f}", na_rep="–", border=0, escape=not cells_are_html
    )
    return f"<div class='table-wrap'>{rendered}</div>"


def _with_ci(estimate: float, low: float, high: float) -> str:
    """``0.611 [0.464, 0.740]`` as HTML that wraps only outside the interval."""
    if pd.isna(estimate):
        return "–"
    return f"<span class='nowrap'>{estimate:.3f} [{low:.3f}, {high:.3f}]</span>"


def _metrics_view(table: pd.DataFrame, level: float, with_fold: bool) -> pd.DataFrame:
    """The metrics table as a reader wants it (cells are HTML): the variant's label, cases with PDAC among
    them, each metric with its CI in one cell (pooled rows) or alone (per fold), FROC sensitivities."""
    ci = f"[{level:.0%} CI]"
    view = pd.DataFrame({"variant": [html.escape(str(v)) for v in table["label"]]})
    if with_fold:
        view["fold"] = [html.escape(str(f)) for f in table["fold"]]
    view["cases (PDAC)"] = [f"{n} ({p})" for n, p in zip(table["n_cases"], table["n_positive"], strict=True)]
    for name in ("AUROC", "AP", "score"):
        if f"{name}_low" in table and table[f"{name}_low"].notna().any():
            view[f"{name} {ci}"] = [
                _with_ci(e, lo, hi)
                for e, lo, hi in zip(table[name], table[f"{name}_low"], table[f"{name}_high"], strict=True)
            ]
        else:
            view[name] = [_number(x) for x in table[name]]
    for column in (c for c in table.columns if c.startswith("sens@")):
        fp = column.removeprefix("sens@").removesuffix("FP")
        view[f"sensitivity at {fp} FP/case"] = [_number(x) for x in table[column]]
    return view


def _number(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.3f}"


def _embed_png(path: Path, alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'


def _subgroup_pivot(subgroups: pd.DataFrame) -> pd.DataFrame:
    """Subgroups as rows, one ``AUROC [CI] p (vs base)`` column per variant; cells are HTML."""

    def cell(r: pd.Series) -> str:
        text = _with_ci(r["AUROC"], r["AUROC_low"], r["AUROC_high"])
        return text if pd.isna(r["p_DeLong"]) else f"{text}<br>p={r['p_DeLong']:.2g}"

    rows = subgroups.assign(cell=subgroups.apply(cell, axis=1), label=subgroups["variant"].map(variant_label))
    counts = rows.drop_duplicates("subgroup").set_index("subgroup")
    pivot = rows.pivot(index="subgroup", columns="label", values="cell")
    pivot = pivot.loc[list(counts.index), list(dict.fromkeys(rows["label"]))]
    pivot.columns.name = None  # else to_html writes it as a header over an empty column
    pivot.insert(
        0,
        "cases (+/−)",
        [f"{p}/{n}" for p, n in zip(counts["n_positive"], counts["n_negative"], strict=True)],
    )
    pivot.insert(0, "comparison", [html.escape(str(d)) for d in counts["description"]])
    return pivot.reset_index(drop=True)


def _brier_table(calibration: pd.DataFrame) -> pd.DataFrame:
    first = calibration.drop_duplicates("variant")
    return pd.DataFrame(
        {
            "variant": first["label"],
            "Brier [95% CI]": [
                f"{b:.3f} [{lo:.3f}, {hi:.3f}]"
                for b, lo, hi in zip(first["Brier"], first["Brier_low"], first["Brier_high"], strict=True)
            ],
        }
    )


def render_html(
    result: EvaluationResult,
    table: pd.DataFrame,
    comparisons: pd.DataFrame,
    plots: Mapping[str, Path],
    notes: Sequence[str] = (),
    calibration: pd.DataFrame | None = None,
    subgroups: pd.DataFrame | None = None,
    case_figures: Sequence[Path] = (),
) -> str:
    """The report as one HTML string (tables from :mod:`pdacrad.evaluation.output`, PNGs read from ``plots``;
    ``notes``: lines about how the predictions were made, e.g. the feature-selection mode and its leakage;
    optional calibration and subgroup tables and case pictures)."""
    cfg = result.config
    pooled = table[table["fold"] == "pooled"]
    per_fold = table[table["fold"] != "pooled"]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>pdacrad evaluation</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>PDAC detection: cross-validation evaluation</h1>",
        f"<p class='note'>pdacrad {html.escape(__version__)}, {stamp}. Metrics by picai_eval: case-level AUROC "
        "of the likelihood, lesion-level AP (IoU ≥ 0.1), score = (AUROC + AP) / 2, FROC sensitivity at "
        f"fixed false positives per case. {cfg.level:.0%} CIs: percentile bootstrap, {cfg.n_bootstrap} "
        f"replicates stratified by case label (seed {cfg.seed}).</p>",
        *(["<h2>Study</h2><ul>", *(f"<li>{html.escape(n)}</li>" for n in notes), "</ul>"] if notes else []),
        "<h2>Pooled over folds</h2>",
        _table_html(_metrics_view(pooled, cfg.level, with_fold=False), cells_are_html=True),
        "<h2>Paired tests against base (CT only)</h2>",
        "<p class='note'>Same cases for both models. DeLong: correlated AUROCs. Paired bootstrap: "
        "two-sided, shifted bootstrap distribution of the difference.</p>",
        _table_html(comparisons) if len(comparisons) else "<p>No base variant: no paired tests.</p>",
        *(
            [
                "<h2>AUROC by subgroup</h2>",
                "<p class='note'>Each kind or size of lesion against all negatives, and all lesions against the "
                "negatives carrying each confounder; bootstrap stratified within the subgroup; DeLong p against "
                "base on the same cases.</p>",
                _table_html(_subgroup_pivot(subgroups), cells_are_html=True),
            ]
            if subgroups is not None and len(subgroups)
            else []
        ),
        *(
            [
                "<h2>Calibration of the likelihood</h2>",
                "<p class='note'>Brier score: mean squared error of the likelihood against PDAC present "
                "(0 perfect; a constant 0.5 scores 0.25).</p>",
                _table_html(_brier_table(calibration)),
            ]
            if calibration is not None and len(calibration)
            else []
        ),
        "<h2>Curves</h2>",
        *(_embed_png(path, f"{name} plot") for name, path in plots.items()),
        *(
            [
                "<h2>Cases where the variants disagree most</h2>",
                "<p class='note'>Widest spread of the likelihood across variants. Left: CT with the reference "
                "lesion (red) and pancreas (yellow); then each variant's detection map (lesion outline cyan).</p>",
                *(_embed_png(path, path.stem) for path in case_figures),
            ]
            if case_figures
            else []
        ),
        "<h2>Per fold</h2>",
        _table_html(_metrics_view(per_fold, cfg.level, with_fold=True), cells_are_html=True)
        if len(per_fold)
        else "<p>Single set of predictions (no folds).</p>",
        "</body></html>",
    ]
    return "\n".join(parts)
