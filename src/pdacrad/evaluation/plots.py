"""ROC, precision–recall and FROC curves of the pooled predictions of each variant, and the case-level views
(reliability diagram, likelihood distributions by case group, subgroup AUROCs with CIs), as PNG files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never open a window (headless containers and CI)
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter

from pdacrad.evaluation.calibration import Calibration
from pdacrad.evaluation.metrics import case_scores
from pdacrad.evaluation.study import VariantResult
from pdacrad.evaluation.subgroups import SubgroupResult
from pdacrad.io import atomic_write
from pdacrad.io.predictions import variant_label

PLOT_NAMES: tuple[str, ...] = ("roc", "pr", "froc")


def _save(fig: plt.Figure, path: Path) -> Path:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)
    return path


def plot_roc(variants: Sequence[VariantResult], path: Path) -> Path:
    """Case-level ROC curves (likelihood vs PDAC present), AUROC with 95% CI in the legend."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for v in variants:
        ci = v.intervals["AUROC"]
        m = v.metrics
        ax.plot(m.case_FPR, m.case_TPR, label=f"{variant_label(v.variant)}: AUROC {ci}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="chance")
    ax.set(xlabel="False positive rate (1 − specificity)", ylabel="True positive rate (sensitivity)")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), title="Case-level ROC (pooled over folds)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_pr(variants: Sequence[VariantResult], path: Path) -> Path:
    """Lesion-level precision–recall curves (picai_eval), AP with 95% CI in the legend."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for v in variants:
        ci = v.intervals["AP"]
        ax.step(
            v.metrics.recall, v.metrics.precision, where="post", label=f"{variant_label(v.variant)}: AP {ci}"
        )
    ax.set(xlabel="Recall (lesion sensitivity)", ylabel="Precision", xlim=(0, 1), ylim=(0, 1.01))
    ax.set(title="Lesion-level precision–recall (pooled)")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_froc(variants: Sequence[VariantResult], path: Path) -> Path:
    """FROC: lesion sensitivity against false positives per case (log axis)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for v in variants:
        fp = np.asarray(v.metrics.lesion_FPR, dtype=float)
        tpr = np.asarray(v.metrics.lesion_TPR, dtype=float)
        finite = np.isfinite(fp) & (fp > 0)
        at_one = dict(v.pooled.froc).get(1.0, float("nan"))
        ax.step(
            fp[finite],
            tpr[finite],
            where="post",
            label=f"{variant_label(v.variant)}: {at_one:.3f} at 1 FP/case",
        )
    ax.set_xscale("log")
    ticks = [0.05, 0.1, 0.25, 0.5, 1, 2, 5]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())  # log minor labels overlap at this size
    ax.set_xlim(ticks[0] / 2, ticks[-1])
    ax.set(xlabel="False positives per case", ylabel="Lesion sensitivity", ylim=(0, 1.01))
    ax.set(title="FROC (pooled)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)


def plot_reliability(calibrations: Sequence[Calibration], path: Path) -> Path:
    """Reliability diagram: observed PDAC share against mean likelihood per bin (marker area ∝ cases), the
    Brier score with its CI in the legend; the diagonal is perfect calibration."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for c in calibrations:
        x = [b.mean_likelihood for b in c.bins]
        y = [b.observed_rate for b in c.bins]
        (line,) = ax.plot(x, y, marker="", label=f"{variant_label(c.variant)}: Brier {c.brier}")
        ax.scatter(x, y, s=[12 * b.n_cases for b in c.bins], color=line.get_color(), alpha=0.6)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect calibration")
    ax.set(
        xlabel="Mean likelihood in bin", ylabel="Share of cases with PDAC", xlim=(0, 1), ylim=(-0.02, 1.02)
    )
    ax.set(title="Reliability of the case likelihood (pooled)")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def score_distribution_figure(
    variants: Sequence[VariantResult], groups: Mapping[str, Sequence[str]]
) -> plt.Figure:
    """The figure of :func:`plot_score_distributions`: its width grows with the number of groups and their
    longest name (at most 14 inches), names wrap after their ``:`` and stand upright if they would still touch,
    so none overlap."""
    names = [name.replace(": ", ":\n") + f"\n(n={len(m)})" for name, m in groups.items()]
    longest = max((len(line) for name in names for line in name.split("\n")), default=0)
    per_group_in = max(1.1, 0.075 * longest + 0.25)  # 8 pt text: about 0.065 inch per character
    fig, ax = plt.subplots(figsize=(min(14.0, max(5.5, per_group_in * len(groups) + 2.0)), 4.8))
    width = 0.8 / max(1, len(variants))
    rng = np.random.default_rng(0)  # horizontal jitter only
    for k, v in enumerate(variants):
        scores = {str(c): float(p) for c, p in case_scores(v.metrics).items()}
        colour = f"C{k}"
        for g, members in enumerate(groups.values()):
            values = np.array([scores[c] for c in members if c in scores])
            centre = g - 0.4 + width * (k + 0.5)
            ax.scatter(
                centre + rng.uniform(-width / 3, width / 3, values.size),
                values,
                s=10,
                color=colour,
                alpha=0.7,
                label=variant_label(v.variant) if g == 0 else None,
            )
            if values.size:
                ax.hlines(np.median(values), centre - width / 2.5, centre + width / 2.5, color=colour)
    ax.set_xticks(range(len(groups)), names, fontsize=8)
    ax.set_xlim(-0.5, len(groups) - 0.5)
    ax.set(ylabel="Case likelihood", ylim=(-0.02, 1.02), title="Likelihood by case group (pooled CV)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: it hid dots near 1
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    if _tick_labels_overlap(fig, ax):  # more or longer names than 14 inches hold: upright, not overprinted
        ax.tick_params(axis="x", labelrotation=90)
        fig.set_figheight(4.8 + 0.07 * longest)  # room for the upright names; the plot keeps its height
        fig.tight_layout()
    return fig


def _tick_labels_overlap(fig: plt.Figure, ax: plt.Axes) -> bool:
    """Whether any two x tick labels' drawn boxes (display pixels) intersect."""
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def plot_score_distributions(
    variants: Sequence[VariantResult], groups: Mapping[str, Sequence[str]], path: Path
) -> Path:
    """Each case's likelihood as a dot, one column per case group (e.g. negatives, each lesion kind) and one
    colour per variant side by side within it, with the group's median as a bar."""
    return _save(score_distribution_figure(variants, groups), path)


def plot_subgroups(results: Sequence[SubgroupResult], path: Path) -> Path:
    """Forest plot: AUROC with its CI per subgroup (rows) and variant (colours)."""
    names = list(dict.fromkeys(r.subgroup.name for r in results))
    variants = list(dict.fromkeys(r.variant for r in results))
    fig, ax = plt.subplots(figsize=(6.5, 0.9 + 0.45 * len(names) * max(1, len(variants)) ** 0.5))
    step = 0.7 / max(1, len(variants))
    for r in results:
        k, row = variants.index(r.variant), names.index(r.subgroup.name)
        y = row - 0.35 + step * (k + 0.5)
        ci = r.auroc
        ax.errorbar(
            ci.estimate,
            y,
            xerr=[[ci.estimate - ci.low], [ci.high - ci.estimate]],
            fmt="o",
            color=f"C{k}",
            markersize=4,
            capsize=2,
            label=variant_label(r.variant) if row == 0 else None,
        )
    labels = [
        f"{next(r.subgroup.description for r in results if r.subgroup.name == n)} "
        f"({next(r.n_positive for r in results if r.subgroup.name == n)}+/"
        f"{next(r.n_negative for r in results if r.subgroup.name == n)}−)"
        for n in names
    ]
    ax.set_yticks(range(len(names)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="AUROC (95% CI)", xlim=(0, 1.0), title="AUROC by subgroup (pooled CV)")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return _save(fig, path)


def write_plots(variants: Sequence[VariantResult], out_dir: Path) -> dict[str, Path]:
    """``roc.png``, ``pr.png`` and ``froc.png`` in ``out_dir``; returns name → path."""
    out_dir = Path(out_dir)
    plotters = {"roc": plot_roc, "pr": plot_pr, "froc": plot_froc}
    return {name: plotters[name](variants, out_dir / f"{name}.png") for name in PLOT_NAMES}
