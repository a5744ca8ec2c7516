"""PNG figures of the analysis steps (matplotlib, headless ``Agg`` backend): every axis labelled, every figure
with a legend or colour bar. Each function takes already-computed tables and writes one file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure


def _figure(width: float = 6.0, height: float = 5.0) -> tuple[Figure, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def _save(figure: Figure, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def icc_plot(table: pd.DataFrame, icc: str, threshold: float, path: Path) -> Path:
    """Sorted per-feature ICC with 95% CI bars and the robustness threshold."""
    import numpy as np

    ordered = table.sort_values(icc).reset_index(drop=True)
    figure, ax = _figure(7, 4.5)
    x = np.arange(len(ordered))
    err = np.vstack([ordered[icc] - ordered[f"{icc}_ci_low"], ordered[f"{icc}_ci_high"] - ordered[icc]])
    colours = np.where(ordered["robust"], "tab:green", "tab:red")
    ax.errorbar(x, ordered[icc], yerr=np.abs(err), fmt="none", ecolor="grey", alpha=0.5, label="95% CI")
    ax.scatter(x, ordered[icc], c=colours, s=12, zorder=3)
    ax.scatter([], [], c="tab:green", label="robust")
    ax.scatter([], [], c="tab:red", label="not robust")
    ax.axhline(threshold, color="black", linestyle="--", label=f"threshold {threshold:g}")
    ax.set(
        xlabel="feature (sorted by ICC)", ylabel=icc, title=f"Feature robustness across perturbations ({icc})"
    )
    ax.legend(loc="lower right")
    return _save(figure, path)


def batch_boxplots(
    before: pd.DataFrame, after: pd.DataFrame, features: Sequence[str], batch_column: str, path: Path
) -> Path:
    """Per-centre box plots of each feature before (left) and after (right) ComBat, up to 6 features."""
    import matplotlib.pyplot as plt

    shown = list(features)[:6]
    batches = sorted(before[batch_column].astype(str).unique())
    plt.switch_backend("Agg")
    figure, axes = plt.subplots(len(shown), 2, figsize=(9, 2.6 * len(shown)), squeeze=False)
    colours = plt.get_cmap("tab10")
    for row, feature in enumerate(shown):
        for col, (label, table) in enumerate((("before ComBat", before), ("after ComBat", after))):
            ax = axes[row][col]
            groups = [table.loc[table[batch_column].astype(str) == b, feature] for b in batches]
            boxes = ax.boxplot(groups, patch_artist=True, tick_labels=batches)
            for i, patch in enumerate(boxes["boxes"]):
                patch.set_facecolor(colours(i % 10))
            ax.set(xlabel=batch_column, ylabel=feature, title=f"{feature}: {label}")
        handles = [plt.Rectangle((0, 0), 1, 1, color=colours(i % 10)) for i in range(len(batches))]
        axes[row][1].legend(handles, batches, title=batch_column, fontsize="small", loc="upper right")
    return _save(figure, path)


def roc_curves(y: np.ndarray, probabilities: Mapping[str, np.ndarray], path: Path) -> Path:
    """ROC curves of several models' out-of-fold probabilities, AUROC in the legend."""
    from sklearn.metrics import roc_auc_score, roc_curve

    figure, ax = _figure()
    for name, p in probabilities.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=f"{name} (AUROC {roc_auc_score(y, p):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set(
        xlabel="1 − specificity (false-positive rate)",
        ylabel="sensitivity (true-positive rate)",
        title="ROC, nested-CV out-of-fold",
    )
    ax.legend(loc="lower right")
    return _save(figure, path)


def reliability_diagram(
    curves: Mapping[str, pd.DataFrame], probabilities: Mapping[str, np.ndarray], path: Path
) -> Path:
    """Observed fraction vs mean predicted probability per bin (one line per curve), with the diagonal and a
    histogram of the first set of predicted probabilities."""
    figure, ax = _figure()
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    for name, curve in curves.items():
        ax.plot(curve["mean_predicted"], curve["observed_fraction"], marker="o", label=name)
    first = next(iter(probabilities.values()))
    hist = ax.twinx()
    hist.hist(first, bins=20, range=(0, 1), color="grey", alpha=0.25)
    hist.set_ylabel("cases per bin (histogram)")
    ax.set(
        xlabel="mean predicted probability",
        ylabel="observed fraction of positives",
        title="Reliability diagram",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="upper left")
    return _save(figure, path)


def decision_curve_plot(curves: Mapping[str, pd.DataFrame], path: Path) -> Path:
    """Net benefit vs threshold probability for each model, treat-all and treat-none."""
    figure, ax = _figure()
    first = next(iter(curves.values()))
    for name, curve in curves.items():
        ax.plot(curve["threshold"], curve["net_benefit_model"], label=name)
    ax.plot(first["threshold"], first["net_benefit_all"], color="grey", linestyle="--", label="treat all")
    ax.plot(first["threshold"], first["net_benefit_none"], color="black", linestyle=":", label="treat none")
    top = max(
        float(first["net_benefit_all"].max()), *(float(c["net_benefit_model"].max()) for c in curves.values())
    )
    ax.set(
        xlabel="threshold probability",
        ylabel="net benefit",
        title="Decision curve",
        ylim=(-0.05, 1.1 * top + 0.01),
    )
    ax.legend(loc="best")
    return _save(figure, path)


def kaplan_meier_plot(y: np.ndarray, high_risk: np.ndarray, title: str, path: Path, p_value: float) -> Path:
    """Kaplan–Meier curves (scikit-survival estimator, 95% CI bands) of the low- and high-risk groups."""
    from sksurv.nonparametric import kaplan_meier_estimator

    from pdacrad.radiomics_stats.survival import event_time

    event, time = event_time(y)
    figure, ax = _figure()
    for label, members, colour in (("low risk", ~high_risk, "tab:blue"), ("high risk", high_risk, "tab:red")):
        t, s, ci = kaplan_meier_estimator(event[members], time[members], conf_type="log-log")
        ax.step(t, s, where="post", color=colour, label=f"{label} (n={int(members.sum())})")
        ax.fill_between(t, ci[0], ci[1], step="post", color=colour, alpha=0.2)
    ax.set(
        xlabel="time (table units, e.g. days)",
        ylabel="survival probability",
        ylim=(0, 1.02),
        title=f"{title} — log-rank p = {p_value:.2g}",
    )
    ax.legend(loc="lower left")
    return _save(figure, path)


def shap_summary(explanation: Any, path: Path, max_display: int = 15) -> Path:
    """shap's beeswarm summary plot of a ``shap.Explanation``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    shap.plots.beeswarm(explanation, max_display=max_display, show=False)
    figure = plt.gcf()
    figure.axes[0].set_xlabel("SHAP value (impact on predicted probability)")
    return _save(figure, path)
