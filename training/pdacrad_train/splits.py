"""``splits``: cross-validation folds written as nnU-Net ``splits_final.json`` for both stages.

Stratified by lesion size: bin 0 holds the negatives, bin k ≥ 1 the positives with lesion volume in
((k−1)·500, k·500] voxels. Within each bin the cases are shuffled (seeded) and dealt to the folds in turn,
the turn carrying over from bin to bin; so a bin with at least ``n_folds`` cases reaches every fold, fold
sizes differ by at most one case, and the result depends only on the case table and the seed.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from pdacrad.errors import InvalidInputError
from pdacrad_train.config import TrainConfig
from pdacrad_train.workspace import Workspace

logger = logging.getLogger(__name__)


def size_bin(lesion_voxels: int, bin_size_voxels: int = 500) -> int:
    """Lesion-size bin: 0 for no lesion, else ⌈voxels / bin_size_voxels⌉."""
    return 0 if lesion_voxels <= 0 else math.ceil(lesion_voxels / bin_size_voxels)


def stratified_folds(
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


def write_splits(config: TrainConfig, ws: Workspace) -> dict[str, Path]:
    """Run the ``splits`` step: ``splits_final.json`` in each stage's nnUNet_preprocessed dataset folder.

    Stage 1 and Stage 2 share the case ids and (with ``source: stratified``) the folds, so that a case never
    validates one stage while training the other.
    """
    if not ws.cases_table.is_file():
        raise InvalidInputError(f"{ws.cases_table} not found: run `pdacrad-train convert` first.")
    table = pd.read_csv(ws.cases_table)
    s = config.splits
    written = {}
    for key, stage, baseline in (
        ("stage1", config.stage1, s.baseline_stage1),
        ("stage2", config.stage2, s.baseline_stage2),
    ):
        if s.source == "baseline":
            folds = baseline_folds(Path(str(baseline)), list(table["case"]))
        else:
            folds = stratified_folds(table, s.n_folds, s.bin_size_voxels, s.seed)
        target = ws.preprocessed_dataset(stage) / "splits_final.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(nnunet_splits(folds), indent=2))
        logger.info("%s: %d folds of sizes %s → %s", key, len(folds), [len(f) for f in folds], target)
        written[key] = target
    return written
