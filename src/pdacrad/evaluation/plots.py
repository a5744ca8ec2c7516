"""ROC, precision–recall and FROC curves of the pooled predictions of each variant, as PNG files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never open a window (headless containers and CI)
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter

from pdacrad.evaluation.layout import variant_label
from pdacrad.evaluation.study import VariantResult
from pdacrad.io import atomic_write

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


def write_plots(variants: Sequence[VariantResult], out_dir: Path) -> dict[str, Path]:
    """``roc.png``, ``pr.png`` and ``froc.png`` in ``out_dir``; returns name → path."""
    out_dir = Path(out_dir)
    plotters = {"roc": plot_roc, "pr": plot_pr, "froc": plot_froc}
    return {name: plotters[name](variants, out_dir / f"{name}.png") for name in PLOT_NAMES}
