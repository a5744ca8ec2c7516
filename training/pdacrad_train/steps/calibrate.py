"""``calibrate``: a Platt calibration of each variant's case likelihood, fitted on its cross-validation predictions,
and its evaluation by cross-fitting.

Input: the CV predictions ``<predictions>/<variant>/fold_<k>/<case>/likelihood.json`` (:mod:`pdacrad.io.predictions`;
default ``<work_dir>/cv_predictions[_final]`` of ``experiment.checkpoint``) and the label maps
``<labels>/<case>.nii.gz`` (a case is PDAC when label 1 is present; default the cohort's ``labelsTr``).

Per variant:

- the **pooled map**, fitted on every case's out-of-fold likelihood → ``<out>/<variant>/calibration.json``, which
  ``export`` ships as ``resources/calibration.json`` for that variant (and ``process.py`` applies) — only where the
  cross-fitted evaluation shows that calibration helps (the paired 95 % CI of the Brier change lies below 0);
  otherwise it is written as ``calibration.rejected.json`` and the export stays uncalibrated;
- the **cross-fitted** likelihoods: fold k's cases mapped by a map fitted on the other folds only, so that no case's
  calibrated value saw its own label. Brier score (stratified-bootstrap CI) and reliability curve of the raw and the
  cross-fitted likelihoods, the Brier change with a paired CI, the pooled AUROC before and after, and the largest
  AUROC change within a fold (zero: the maps are increasing).

Output in ``<out>`` (default ``<work_dir>/calibration[_final]``): ``summary.csv`` (one row per variant),
``reliability.csv`` (bins, raw and cross-fitted), ``cases.csv`` (per case: fold, label, raw, cross-fitted),
``calibration.json`` (all of it, with every fold's map), ``reliability_<variant>.png`` and
``<variant>/calibration.json``.

Caveat, stated in the pooled map's provenance: the map is fitted on single fold models' predictions; an export
that ensembles several folds (``export.folds``) averages their softmax, which can shift the scores it maps.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pdacrad.errors import InvalidInputError
from pdacrad.model.manifest import CALIBRATION_NAME
from pdacrad_train.config import TrainConfig
from pdacrad_train.workspace import Workspace

if TYPE_CHECKING:
    from pdacrad.evaluation.calibration import CrossFitCalibration

logger = logging.getLogger(__name__)

SUMMARY_NAME = "summary.csv"
RELIABILITY_NAME = "reliability.csv"
CASES_NAME = "cases.csv"
REPORT_NAME = "calibration.json"
REJECTED_NAME = "calibration.rejected.json"
"""The pooled map of a variant whose cross-fitted calibration did not lower the Brier score (not exported)."""


def case_labels(labels_dir: Path, cases: Sequence[str], lesion_label: int = 1) -> dict[str, int]:
    """Case → 1 if its label map holds ``lesion_label`` (PDAC), else 0."""
    import SimpleITK as sitk

    from pdacrad.io.predictions import label_path

    labels = {}
    for case in cases:
        # a copy, not a view: a view of a temporary image reads freed memory once the image is collected
        array = sitk.GetArrayFromImage(sitk.ReadImage(str(label_path(labels_dir, case))))
        labels[case] = int(np.any(array == lesion_label))
    return labels


def run_calibrate(
    cfg: TrainConfig,
    ws: Workspace,
    predictions: Path | None = None,
    labels: Path | None = None,
    out: Path | None = None,
    variants: Sequence[str] | None = None,
    n_bootstrap: int | None = None,
    seed: int = 0,
) -> dict[str, CrossFitCalibration]:
    """Calibrate every variant found under ``predictions`` (or only ``variants``) and write the outputs; returns
    variant → result. ``n_bootstrap`` defaults to the config's ``experiment.n_bootstrap``.

    Raises:
        InvalidInputError: no predictions, a requested variant without predictions, a missing label map, a variant
            with fewer than two folds or whose other folds lack one class.
    """
    from pdacrad.evaluation.calibration import cross_fit_calibration
    from pdacrad.io.predictions import discover_predictions

    predictions = Path(predictions or ws.predictions_dir(cfg.experiment.checkpoint))
    labels = Path(labels or ws.cohort / "labelsTr")
    out = Path(out or ws.calibration_dir(cfg.experiment.checkpoint))
    replicates = cfg.experiment.n_bootstrap if n_bootstrap is None else n_bootstrap
    found = discover_predictions(predictions)
    missing = [v for v in variants or () if v not in found]
    if missing:
        raise InvalidInputError(f"calibrate: no predictions of variant(s) {missing} under {predictions}.")
    chosen = {v: found[v] for v in (variants or found)}
    truth = case_labels(labels, sorted({c.case for cases in chosen.values() for c in cases}))
    results = {}
    for variant, cases in chosen.items():
        try:
            results[variant] = cross_fit_calibration(
                variant,
                np.array([truth[c.case] for c in cases]),
                np.array([c.likelihood for c in cases]),
                [c.fold for c in cases],
                replicates,
                seed,
                fitted_on=f"out-of-fold likelihoods of variant {variant} in {predictions.as_posix()} "
                f"({len({c.fold for c in cases})} folds, single-fold models)",
            )
        except ValueError as error:
            raise InvalidInputError(f"calibrate: variant {variant} under {predictions}: {error}.") from None
        r = results[variant]
        logger.info(
            "%s: Brier %s raw → %s cross-fitted (change %s); pooled AUROC %.3f → %.3f, within folds max |Δ| %.1e",
            variant, r.raw.brier, r.cross_fitted.brier, r.brier_change, r.auroc_raw, r.auroc_cross_fitted,
            r.fold_auroc_change,
        )  # fmt: skip
    write_outputs(results, chosen, truth, out, {"predictions": predictions.as_posix(), "labels": labels.as_posix(),
                                               "n_bootstrap": replicates, "seed": seed})  # fmt: skip
    return results


def write_outputs(
    results: Mapping[str, CrossFitCalibration],
    cases: Mapping[str, Sequence],  # variant → its CasePrediction list, in the results' case order
    truth: Mapping[str, int],
    out: Path,
    inputs: Mapping[str, object],
) -> None:
    """Write the tables, the JSON report, the reliability diagrams and each variant's pooled map under ``out``."""
    from pdacrad.evaluation.calibration import calibration_table
    from pdacrad.evaluation.plots import plot_reliability

    out.mkdir(parents=True, exist_ok=True)
    summary, bins, per_case = [], [], []
    for variant, r in results.items():
        n_positive = sum(truth[c.case] for c in cases[variant])
        summary.append(_summary_row(variant, r, n_positive))
        for stage, cal in (("raw", r.raw), ("cross-fitted", r.cross_fitted)):
            table = calibration_table([cal]).drop(columns=["variant", "label"])
            bins.append(table.assign(variant=variant, stage=stage)[["variant", "stage", *table.columns]])
        per_case += [
            {"variant": variant, "case": c.case, "fold": c.fold, "label": truth[c.case], "raw": c.likelihood,
             "cross_fitted": float(s)}
            for c, s in zip(cases[variant], r.cross_fitted_scores, strict=True)
        ]  # fmt: skip
        save_pooled_map(variant, r, out / variant)
        plot_reliability([r.raw, r.cross_fitted], out / f"reliability_{variant}.png")
    pd.DataFrame(summary).to_csv(out / SUMMARY_NAME, index=False, float_format="%.6g")
    pd.concat(bins, ignore_index=True).to_csv(out / RELIABILITY_NAME, index=False, float_format="%.6g")
    pd.DataFrame(per_case).to_csv(out / CASES_NAME, index=False)  # full precision: refits from it match
    report = {
        "format_version": 1,
        "method": "Platt scaling on the logit of the likelihood (pdacrad.model.calibration); cross-fitted: fold k "
        "mapped by a fit on the other folds",
        **inputs,
        "variants": {
            variant: {
                **_summary_row(variant, r, sum(truth[c.case] for c in cases[variant])),
                "pooled_map": r.pooled_map.to_json(),
                "fold_maps": {fold: m.to_json() for fold, m in r.fold_maps.items()},
            }
            for variant, r in results.items()
        },
    }
    (out / REPORT_NAME).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    logger.info("calibrate: %d variant(s) → %s", len(results), out)


def shipped(r: CrossFitCalibration) -> bool:
    """Whether the pooled map is worth exporting: the paired 95 % CI of the cross-fitted Brier change lies below 0."""
    return r.brier_change.high < 0.0


def save_pooled_map(variant: str, r: CrossFitCalibration, folder: Path) -> None:
    """``folder/calibration.json`` when :func:`shipped`, else ``folder/calibration.rejected.json`` (and the other
    name removed, so a rerun never leaves a stale map for ``export``)."""
    folder.mkdir(parents=True, exist_ok=True)
    keep, drop = (CALIBRATION_NAME, REJECTED_NAME) if shipped(r) else (REJECTED_NAME, CALIBRATION_NAME)
    (folder / drop).unlink(missing_ok=True)
    r.pooled_map.save(folder / keep)
    if not shipped(r):
        logger.warning(
            "%s: cross-fitted calibration does not lower the Brier score (change %s): its map is written as %s "
            "and export will not ship it",
            variant,
            r.brier_change,
            folder / keep,
        )


def _summary_row(variant: str, r: CrossFitCalibration, n_positive: int) -> dict[str, object]:
    row: dict[str, object] = {
        "variant": variant,
        "n_cases": int(r.cross_fitted_scores.size),
        "n_positive": n_positive,
        "n_fixed": r.pooled_map.n_fixed,
        "slope": r.pooled_map.slope,
        "intercept": r.pooled_map.intercept,
    }
    for name, ci in (("Brier_raw", r.raw.brier), ("Brier_cross_fitted", r.cross_fitted.brier),
                     ("Brier_change", r.brier_change)):  # fmt: skip
        row |= {name: ci.estimate, f"{name}_low": ci.low, f"{name}_high": ci.high}
    return row | {
        "AUROC_raw": r.auroc_raw,
        "AUROC_cross_fitted": r.auroc_cross_fitted,
        "fold_AUROC_change_max": r.fold_auroc_change,
        "exported": shipped(r),
    }
