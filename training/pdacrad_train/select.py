"""``select``: the global radiomics features of Stage 2, chosen without leakage, and ``radiomics.json``.

Reads the features table of ``global-features``. The selection (:mod:`pdacrad_train.selection`: usable columns
→ z-score → univariate test + Benjamini–Hochberg FDR → SVM-RFE) is cross-validated twice, each fold fitting a
fresh pipeline on its own training cases only:

- on the training tree's folds (Stage 2's ``splits_final.json``; stratified folds of the config's ``splits``
  when it does not exist yet) — how often each finally selected feature was picked per fold is its stability;
- as the paper's 10-fold stratified CV of the radiomics-only SVM, whose pooled out-of-fold AUROC and AP get
  95% bootstrap CIs (the paper reports AUROC 0.824 ± 0.035, AP 0.667 on PANORAMA).

The final selection is fitted on all training cases. Outputs, in ``<work_dir>/radiomics/``: ``radiomics.json``
(SPEC: params, global features, scaler, map features = the selected non-shape features, map params) and
``selection_report.json``; and Stage 2's per-case z-scored ``global_vectors.json`` in its nnU-Net preprocessed
dataset folder. Cheap to rerun: it always recomputes from the features table.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pdacrad_train.config import TrainConfig
from pdacrad_train.global_features import feature_folder, features_table_path, load_params, training_cases
from pdacrad_train.options import CONFIG as _CONFIG
from pdacrad_train.options import WORK_DIR as _WORK_DIR
from pdacrad_train.radiomics_config import RadiomicsConfig, load_radiomics_config
from pdacrad_train.step import step
from pdacrad_train.workspace import Workspace

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from pdacrad.radiomics_spec import RadiomicsSpec
    from pdacrad_train.selection import CVResult, Fold

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SelectionResult:
    """What ``select`` produced: the spec written to ``radiomics.json`` and both cross-validations."""

    spec: RadiomicsSpec
    cv: CVResult
    tree_cv: CVResult
    radiomics_json: Path
    report: Path


def read_features(ws: Workspace) -> pd.DataFrame:
    """The case × feature table of ``global-features`` (index ``case``)."""
    import pandas as pd

    from pdacrad.errors import InvalidInputError

    path = features_table_path(ws)
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
        from pdacrad.errors import InvalidInputError

        raise InvalidInputError(f"features table lists case(s) with no label, e.g. {missing[0]}.")
    return table, labels.reindex(table.index).to_numpy(dtype=int)


def training_tree_folds(config: TrainConfig, ws: Workspace, cases: pd.Index, y: np.ndarray) -> list[Fold]:
    """The Stage-2 ``splits_final.json`` folds as row indices of ``cases`` (cases not in ``cases``, e.g. with
    empty masks, are left out); stratified folds of ``config.splits`` when the file does not exist yet."""
    import numpy as np

    from pdacrad_train.selection import stratified_folds

    path = ws.preprocessed_dataset(config.stage2) / "splits_final.json"
    if not path.is_file():
        logger.info("%s not found: stratified %d-fold splits instead", path, config.splits.n_folds)
        return stratified_folds(y, config.splits.n_folds, config.splits.seed)
    position = {c: i for i, c in enumerate(cases)}
    folds = []
    for split in json.loads(path.read_text()):
        train = np.array([position[c] for c in split["train"] if c in position], dtype=int)
        val = np.array([position[c] for c in split["val"] if c in position], dtype=int)
        folds.append((train, val))
    return folds


def write_global_vectors(
    config: TrainConfig, ws: Workspace, table: pd.DataFrame, spec: RadiomicsSpec
) -> Path:
    """Per-case z-scored vectors of every case of ``table`` → Stage 2's ``global_vectors.json``. A non-finite
    feature (e.g. from an empty mask) becomes 0 — the training mean — with a warning."""
    import numpy as np

    from pdacrad.nnunet_ext.global_vectors import GLOBAL_VECTORS_FILENAME, save_global_vectors

    values = table.reindex(columns=list(spec.global_features)).to_numpy(dtype=np.float64)
    z = (values - np.asarray(spec.mean)) / np.asarray(spec.std)
    bad = ~np.isfinite(z).all(axis=1)
    if bad.any():
        logger.warning(
            "%d case(s) with missing features get the mean vector: %s", bad.sum(), list(table.index[bad])
        )
    z = np.where(np.isfinite(z), z, 0.0)
    target = ws.preprocessed_dataset(config.stage2) / GLOBAL_VECTORS_FILENAME
    target.parent.mkdir(parents=True, exist_ok=True)
    return save_global_vectors(target, spec.global_features, dict(zip(table.index, z, strict=True)))


def run_select(config: TrainConfig, ws: Workspace, rcfg: RadiomicsConfig) -> SelectionResult:
    """The ``select`` step (see the module docstring)."""
    import numpy as np

    from pdacrad.io.atomic import atomic_write_json
    from pdacrad_train.selection import (
        cross_validate,
        fit_pipeline,
        spec_from_pipeline,
        stratified_folds,
    )

    s = rcfg.selection
    everything = read_features(ws)
    table, y = usable_cases(everything, ws)
    params = load_params(rcfg.params_path)
    tree_cv, _ = cross_validate(
        table, y, training_tree_folds(config, ws, table.index, y), s, "training-tree folds"
    )
    cv, _ = cross_validate(table, y, stratified_folds(y, s.cv_folds, s.seed), s, f"{s.cv_folds}-fold CV")
    final = fit_pipeline(s, table.to_numpy(dtype=np.float64), y)
    spec = spec_from_pipeline(final, list(table.columns), params, rcfg)
    out = feature_folder(ws)
    spec.save(out / "radiomics.json")
    report = {
        "n_cases": len(y),
        "n_positive": int(y.sum()),
        "n_features_in": int(table.shape[1]),
        "params_file": str(rcfg.params_path),
        "selection": asdict(s),
        "selected": list(spec.global_features),
        "map_features": list(spec.map_features),
        "selected_in_training_tree_folds": {
            f: sum(f in fold for fold in tree_cv.fold_features) for f in spec.global_features
        },
        "cv_stratified": cv.as_dict(),
        "cv_training_tree_folds": tree_cv.as_dict(),
    }
    atomic_write_json(report, out / "selection_report.json")
    logger.info("selected %d features: %s", len(spec.global_features), ", ".join(spec.global_features))
    try:
        vectors = write_global_vectors(config, ws, everything, spec)
        logger.info("Stage-2 global vectors → %s", vectors)
    except ImportError:
        logger.warning(
            "pdacrad.nnunet_ext.global_vectors is not available: Stage-2 global vectors not written."
        )
    return SelectionResult(spec, cv, tree_cv, out / "radiomics.json", out / "selection_report.json")


_RADIOMICS = typer.Option(
    None,
    "--radiomics-config",
    help="Radiomics settings YAML (default: <config stem>.radiomics.yaml beside --config, else the paper's).",
)


def command(
    config: Path = _CONFIG, work_dir: Path | None = _WORK_DIR, radiomics_config: Path | None = _RADIOMICS
) -> None:
    """Select the Stage-2 global radiomics features without leakage and write radiomics.json.

    Inside each CV fold, fitted on the fold's training cases only: z-score → Mann–Whitney U (or t-test) with
    Benjamini–Hochberg FDR → SVM-RFE (linear SVM) to 10 features. Prints the radiomics-only SVM's 10-fold
    stratified CV AUROC and AP with 95% bootstrap CIs. Writes <work_dir>/radiomics/radiomics.json,
    selection_report.json, and Stage 2's global_vectors.json. Needs `global-features` first.
    """
    with step(config, work_dir) as (cfg, ws):
        result = run_select(cfg, ws, load_radiomics_config(cfg, radiomics_config))
        typer.echo(f"selected: {', '.join(result.spec.global_features)}")
        typer.echo(f"radiomics-only SVM, {result.cv.n_folds}-fold stratified CV: {result.cv.summary()}")
        typer.echo(
            f"radiomics-only SVM, training-tree folds ({result.tree_cv.n_folds}): {result.tree_cv.summary()}"
        )
        typer.echo(f"→ {result.radiomics_json}\n→ {result.report}")
