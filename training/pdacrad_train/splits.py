"""Cross-validation folds of the training tree, and nnU-Net's ``splits_final.json`` that holds them.

The ``splits`` command (:mod:`pdacrad_train.steps.prepare`) writes them for both stages.
:func:`size_stratified_folds` stratifies by lesion size: bin 0 holds the negatives, bin k ≥ 1 the positives with
lesion volume in ((k−1)·500, k·500] voxels. Within each bin the cases are shuffled (seeded) and dealt to the folds
in turn, the turn carrying over from bin to bin; so a bin with at least ``n_folds`` cases reaches every fold, fold
sizes differ by at most one case, and the result depends only on the case table and the seed. (The feature
selection's own CV folds, stratified by label, are :func:`pdacrad_train.feature_selection.label_stratified_folds`.)
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from pdacrad.errors import InvalidInputError
from pdacrad_train.config import StageConfig
from pdacrad_train.workspace import Workspace


def size_bin(lesion_voxels: int, bin_size_voxels: int = 500) -> int:
    """Lesion-size bin: 0 for no lesion, else ⌈voxels / bin_size_voxels⌉."""
    return 0 if lesion_voxels <= 0 else math.ceil(lesion_voxels / bin_size_voxels)


def size_stratified_folds(
    table: pd.DataFrame, n_folds: int = 5, bin_size_voxels: int = 500, seed: int = 12345
) -> list[list[str]]:
    """Validation case ids of each fold from a table with ``case`` and ``lesion_voxels`` columns."""
    if len(table) < n_folds:
        raise InvalidInputError(f"{len(table)} cases cannot fill {n_folds} folds.")
    if table["case"].duplicated().any():
        raise InvalidInputError("The cases table lists a case twice.")
    rng = np.random.default_rng(seed)
    bins = table["lesion_voxels"].map(lambda v: size_bin(int(v), bin_size_voxels))
    folds: list[list[str]] = [[] for _ in range(n_folds)]
    turn = 0
    for value in sorted(bins.unique()):
        members = sorted(table.loc[bins == value, "case"])
        for case in rng.permutation(members):
            folds[turn % n_folds].append(str(case))
            turn += 1
    return [sorted(f) for f in folds]


def baseline_folds(fold_file: Path, cases: list[str]) -> list[list[str]]:
    """Validation case ids per fold from a PANORAMA baseline fold file (``{"Fold k validation": [ids]}``),
    restricted to ``cases``.

    Raises:
        InvalidInputError: the file is missing/malformed, or a case of ``cases`` is in no fold.
    """
    if not fold_file.is_file():
        raise InvalidInputError(f"Baseline fold file not found: {fold_file}.")
    data = json.loads(fold_file.read_text())
    keys = sorted(k for k in data if k.startswith("Fold ") and k.endswith(" validation"))
    if not keys:
        raise InvalidInputError(f"{fold_file}: expected keys 'Fold k validation'.")
    wanted = set(cases)
    folds = [sorted(set(data[k]) & wanted) for k in keys]
    unassigned = wanted - set().union(*map(set, folds))
    if unassigned:
        raise InvalidInputError(
            f"{fold_file}: {len(unassigned)} case(s) in no fold, e.g. {sorted(unassigned)[0]}."
        )
    return folds


def nnunet_splits(folds: list[list[str]]) -> list[dict[str, list[str]]]:
    """nnU-Net's ``splits_final.json`` content: per fold, train = all other folds, val = this fold."""
    return [
        {"train": sorted(c for j, f in enumerate(folds) if j != i for c in f), "val": sorted(fold)}
        for i, fold in enumerate(folds)
    ]


def read_splits(ws: Workspace, stage: StageConfig) -> list[dict[str, list[str]]]:
    """nnU-Net's ``splits_final.json`` of ``stage`` (written by ``splits``): per fold ``{"train": [...], "val": [...]}``.

    Raises:
        InvalidInputError: it has not been written yet.
    """
    path = ws.splits_file(stage)
    if not path.is_file():
        raise InvalidInputError(f"{path} not found: run `pdacrad-train splits` first.")
    return json.loads(path.read_text())  # type: ignore[no-any-return]
