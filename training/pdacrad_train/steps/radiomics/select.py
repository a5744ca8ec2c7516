"""``select``: the global radiomics features of Stage 2 and their ``radiomics.json``, without leakage by default.

Reads the features table of ``global-features``. The selection (:mod:`pdacrad_train.feature_selection`: usable columns
→ z-score → univariate test + Benjamini–Hochberg FDR → SVM-RFE) is one scikit-learn pipeline fitted on the cases
it is given and nothing else. ``selection.mode`` (or ``--mode``) says on which cases:

- ``per-fold`` (default): for each fold k of Stage 2's ``splits_final.json`` (written by ``splits``), a pipeline
  fitted on fold k's **training** cases only → ``<work_dir>/radiomics/fold_<k>/``. The Stage-2 model of fold k
  then takes inputs (features, scaler, maps) that its validation cases did not help choose.
- ``pooled`` (the paper's): one pipeline fitted on every case → ``<work_dir>/radiomics/pooled/``. Every
  validation fold then helped choose its own inputs; the report says so.

Each folder holds ``radiomics.json`` (SPEC: params, global features, scaler, map features = the selected
non-shape features, map params; ``inputs`` of the ``both`` variant — derive the others with
``RadiomicsSpec.for_variant``; ``preprocessing``: the Stage-2 ROI margins of the config and the map-mask
dilation), ``global_vectors.json`` (every case of the dataset z-scored with that folder's scaler, the format of
:mod:`pdacrad.nnunet_ext.conditioning.global_vectors`) and ``selection_report.json``. ``<work_dir>/radiomics/
selection_summary.json`` adds the radiomics-only SVM's cross-validation: its out-of-fold scores over the
training-tree folds (honest in per-fold mode: each fold scored by the selection fitted without it) and the
paper's 10-fold stratified CV, both with 95% bootstrap CIs (the paper: AUROC 0.824 ± 0.035, AP 0.667).
Cheap to rerun: it always recomputes from the features table.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pdacrad.errors import InvalidInputError
from pdacrad_train.cases import training_cases
from pdacrad_train.config import TrainConfig
from pdacrad_train.radiomics_config import RadiomicsConfig, load_params
from pdacrad_train.workspace import Workspace

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from pdacrad.model.radiomics_spec import RadiomicsSpec
    from pdacrad_train.feature_selection import CVResult, Fold

logger = logging.getLogger(__name__)

POOLED_LEAK = (
    "LEAK: pooled selection (the paper's): the features, scaler and maps were chosen on every case, so every "
    "validation fold helped choose its own inputs; cross-validated Stage-2 scores of these inputs are optimistic. "
    "Use selection.mode: per-fold for the ablation."
)


@dataclass(frozen=True)
class Selection:
    """One fitted selection: its fold (``None``: pooled), ``radiomics.json`` content and folder."""

    fold: int | None
    spec: RadiomicsSpec
    directory: Path


@dataclass(frozen=True)
class SelectionResult:
    """What ``select`` produced: the mode, one :class:`Selection` per fold (or the pooled one), and both
    cross-validations of the radiomics-only SVM."""

    mode: str
    selections: tuple[Selection, ...]
    cv: CVResult
    tree_cv: CVResult
    summary: Path


def read_features(ws: Workspace) -> pd.DataFrame:
    """The case × feature table of ``global-features`` (index ``case``)."""
    import pandas as pd

    path = ws.global_features_table
    if not path.is_file():
        raise InvalidInputError(f"{path} not found: run `pdacrad-train global-features` first.")
    return pd.read_csv(path, index_col="case", dtype={"case": str})


def usable_cases(table: pd.DataFrame, ws: Workspace) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows with any feature and their labels (0/1); all-NaN rows (empty masks) are left out with a warning."""
    labels = training_cases(ws).set_index("case")["label"]
    empty = table.index[table.isna().all(axis=1)]
    if len(empty):
        logger.warning(
            "%d case(s) without features (empty mask) left out of selection: %s", len(empty), list(empty)
        )
    table = table.drop(index=empty)
    missing = table.index.difference(labels.index)
    if len(missing):
        raise InvalidInputError(f"features table lists case(s) with no label, e.g. {missing[0]}.")
    return table, labels.reindex(table.index).to_numpy(dtype=int)


def stage2_splits(config: TrainConfig, ws: Workspace) -> list[dict[str, list[str]]] | None:
    """Stage 2's ``splits_final.json`` (per fold ``{"train": [...], "val": [...]}``), or ``None`` if not written."""
    from pdacrad_train.splits import read_splits

    return read_splits(ws, config.stage2) if ws.splits_file(config.stage2).is_file() else None


def training_tree_folds(config: TrainConfig, ws: Workspace, cases: pd.Index, y: np.ndarray) -> list[Fold]:
    """The Stage-2 ``splits_final.json`` folds as row indices of ``cases`` (cases not in ``cases``, e.g. with
    empty masks, are left out); stratified folds of ``config.splits`` when the file does not exist yet."""
    import numpy as np

    from pdacrad_train.feature_selection import label_stratified_folds

    splits = stage2_splits(config, ws)
    if splits is None:
        logger.info("no Stage-2 splits_final.json: stratified %d-fold splits instead", config.splits.n_folds)
        return label_stratified_folds(y, config.splits.n_folds, config.splits.seed)
    position = {c: i for i, c in enumerate(cases)}

    def rows(names: list[str]) -> np.ndarray:
        return np.array([position[c] for c in names if c in position], dtype=int)

    folds = [(rows(split["train"]), rows(split["val"])) for split in splits]
    for k, ((train, _), split) in enumerate(zip(folds, splits, strict=True)):
        if len(np.unique(y[train])) < 2:
            raise InvalidInputError(
                f"fold {k}: feature selection needs training cases of both labels with a Stage-1 pancreas, but "
                f"only {len(train)} of its {len(split['train'])} training cases have one "
                f"(labels {sorted(set(y[train].tolist()))}); Stage 1 found no pancreas in the others (the oof "
                "step warns which): train Stage 1 longer, or check the cohort."
            )
    return folds


def global_vectors(table: pd.DataFrame, spec: RadiomicsSpec) -> dict[str, np.ndarray]:
    """Case → ``spec.global_features`` of ``table``'s row z-scored with ``spec``'s scaler. A non-finite feature
    (e.g. from an empty pancreas) becomes 0 — the training mean — with a warning."""
    import numpy as np

    values = table.reindex(columns=list(spec.global_features)).to_numpy(dtype=np.float64)
    z = (values - np.asarray(spec.mean)) / np.asarray(spec.std)
    bad = ~np.isfinite(z).all(axis=1)
    if bad.any():
        logger.warning(
            "%d case(s) with missing features get the mean vector: %s", bad.sum(), list(table.index[bad])
        )
    return dict(zip(table.index, np.where(np.isfinite(z), z, 0.0), strict=True))


def write_selection(
    directory: Path, spec: RadiomicsSpec, everything: pd.DataFrame, report: dict[str, Any]
) -> Selection:
    """``radiomics.json``, ``global_vectors.json`` (every case of ``everything``) and ``selection_report.json``
    into ``directory``."""
    from pdacrad.io.atomic import atomic_write_json
    from pdacrad.model.manifest import RADIOMICS_NAME
    from pdacrad.nnunet_ext.conditioning.global_vectors import GLOBAL_VECTORS_FILENAME, save_global_vectors

    directory.mkdir(parents=True, exist_ok=True)
    spec.save(directory / RADIOMICS_NAME)
    save_global_vectors(
        directory / GLOBAL_VECTORS_FILENAME, spec.global_features, global_vectors(everything, spec)
    )
    selected = {"selected": list(spec.global_features), "map_features": list(spec.map_features)}
    extra = {"inputs": asdict(spec.inputs), "preprocessing": spec.preprocessing.to_dict()}
    atomic_write_json({**report, **selected, **extra}, directory / "selection_report.json")
    if not spec.map_features:
        logger.warning(
            "%s: every selected feature is a shape feature — no maps; variants maps/both impossible",
            directory,
        )
    fold = None if directory.name == "pooled" else int(directory.name.removeprefix("fold_"))
    return Selection(fold, spec, directory)


def _fold_report(
    fit: Pipeline, k: int, train: np.ndarray, val: np.ndarray, y: np.ndarray, cv: CVResult
) -> dict:
    """What one per-fold selection saw and how its radiomics-only SVM scored its own validation cases."""
    fdr = fit.named_steps["fdr"]
    return {
        "mode": "per-fold",
        "fold": k,
        "leakage": f"none: fitted on the {len(train)} training cases of Stage-2 fold {k} only",
        "n_train_cases": len(train),
        "n_train_positive": int(y[train].sum()),
        "n_validation_cases": len(val),
        "n_features_after_fdr": int(fdr.support_.sum()),
        # NaN (one class among the validation cases) as null: strict JSON
        "validation_auroc": cv.fold_auroc[k] if cv.fold_auroc[k] == cv.fold_auroc[k] else None,
    }


def run_select(
    config: TrainConfig, ws: Workspace, rcfg: RadiomicsConfig, mode: str | None = None
) -> SelectionResult:
    """The ``select`` step (see the module docstring); ``mode`` overrides ``rcfg.selection.mode``.

    Raises:
        InvalidInputError: no features table, or per-fold mode without Stage 2's ``splits_final.json``.
    """
    import numpy as np

    from pdacrad.io.atomic import atomic_write_json
    from pdacrad.model.radiomics_spec import Preprocessing
    from pdacrad_train.feature_selection import (
        cross_validate,
        fit_pipeline,
        label_stratified_folds,
        spec_from_pipeline,
    )

    start = time.perf_counter()
    s = rcfg.selection
    mode = mode or s.mode
    if mode not in ("per-fold", "pooled"):
        raise InvalidInputError(f"selection mode {mode!r}: use per-fold or pooled.")
    if mode == "per-fold" and stage2_splits(config, ws) is None:
        raise InvalidInputError(
            f"per-fold selection needs Stage 2's {ws.splits_file(config.stage2)}: "
            "run `pdacrad-train splits` first (or use --mode pooled)."
        )
    everything = read_features(ws)
    table, y = usable_cases(everything, ws)
    params = load_params(rcfg.params_path)
    preprocessing = Preprocessing(
        roi_margins_mm_xyz=config.stage2.margins_mm_xyz, map_mask_dilation_mm=rcfg.maps.mask_dilation_mm
    )
    names = list(table.columns)
    folds = training_tree_folds(config, ws, table.index, y)
    tree_cv, fits = cross_validate(table, y, folds, s, "training-tree folds")
    cv, _ = cross_validate(
        table, y, label_stratified_folds(y, s.cv_folds, s.seed), s, f"{s.cv_folds}-fold CV"
    )
    common = {
        "params_file": str(rcfg.params_path),
        "features_table": str(ws.global_features_table),
        "n_features_in": len(names),
        "selection": {**asdict(s), "mode": mode},
    }
    selections = []
    if mode == "per-fold":
        for k, ((train, val), fit) in enumerate(zip(folds, fits, strict=True)):
            spec = spec_from_pipeline(fit, names, params, rcfg, preprocessing)
            report = {**_fold_report(fit, k, train, val, y, tree_cv), **common}
            selections.append(write_selection(ws.selection_dir(k), spec, everything, report))
    else:
        final = fit_pipeline(s, table.to_numpy(dtype=np.float64), y)
        spec = spec_from_pipeline(final, names, params, rcfg, preprocessing)
        report = {
            "mode": "pooled",
            "leakage": POOLED_LEAK,
            "n_cases": len(y),
            "n_positive": int(y.sum()),
            "selected_in_training_tree_folds": {
                f: sum(f in fold for fold in tree_cv.fold_features) for f in spec.global_features
            },
            **common,
            "cv_stratified": cv.as_dict(),
            "cv_training_tree_folds": tree_cv.as_dict(),
        }
        selections.append(write_selection(ws.selection_dir(None), spec, everything, report))
        logger.warning(POOLED_LEAK)
    summary = ws.selection_summary
    atomic_write_json(
        {
            "mode": mode,
            "leakage": POOLED_LEAK
            if mode == "pooled"
            else "none: each fold's selection saw its training cases only",
            "selections": {str(sel.directory): list(sel.spec.global_features) for sel in selections},
            "cv_training_tree_folds": tree_cv.as_dict(),
            "cv_stratified": cv.as_dict(),
        },
        summary,
    )
    logger.info(
        "select (%s): %d selection(s) of %d features from %d cases in %.1f s → %s",
        mode,
        len(selections),
        s.n_features,
        len(y),
        time.perf_counter() - start,
        ws.radiomics,
    )
    return SelectionResult(mode, tuple(selections), cv, tree_cv, summary)
