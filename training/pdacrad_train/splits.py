"""Cross-validation folds of the training tree, and nnU-Net's ``splits_final.json`` that holds them.

The ``splits`` command (:mod:`pdacrad_train.steps.prepare`) writes them for both stages, from
:func:`folds_from_config`. Both stratified fold makers bin by lesion size (:func:`size_bin`): bin 0 holds the
negatives, bin k ≥ 1 the positives with lesion volume in ((k−1)·500, k·500] voxels.

* :func:`patient_grouped_folds` (the default, ``splits.group_by: patient``) keeps every study of a patient in one
  fold — a patient's second CT is not a new patient, and validating on it while training on the first inflates
  the scores. The patient of a case is :func:`patient_id` (PANORAMA ``<patient>_<study>``; any other id is its
  own patient). scikit-learn's ``StratifiedGroupKFold`` (shuffled, seeded) assigns whole patients, greedily
  keeping each size bin's share of every fold as even as the patients allow: with one study per patient each
  bin's count per fold differs by at most one.
* :func:`size_stratified_folds` (``group_by: case``, the behaviour before patients were grouped): within each bin
  the cases are shuffled (seeded) and dealt to the folds in turn, the turn carrying over from bin to bin; so a
  bin with at least ``n_folds`` cases reaches every fold and fold sizes differ by at most one case.
* :func:`baseline_folds` (``source: baseline``): the PANORAMA baseline's own fold files, used as they are; they
  split some patients across folds, which :func:`split_patients` finds and the ``splits`` step logs and records.

Either way the result depends only on the case table and the seed. :func:`splits_report` summarises folds (sizes,
size bins, patients split across folds) for the ``splits_report.json`` written beside each ``splits_final.json``.
(The feature selection's own CV folds, stratified by label, are
:func:`pdacrad_train.feature_selection.label_stratified_folds`.)
"""

from __future__ import annotations

import json
import logging
import math
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from pdacrad.errors import InvalidInputError
from pdacrad_train.config import SplitsConfig, StageConfig
from pdacrad_train.workspace import Workspace

logger = logging.getLogger(__name__)

#: A PANORAMA case id: 6-digit patient, underscore, 5-digit study (``100001_00001``).
PANORAMA_CASE_ID = re.compile(r"(?P<patient>\d{6})_(?P<study>\d{5})")


def patient_id(case: str) -> str:
    """The patient a case id belongs to.

    Rule: a PANORAMA id ``<patient>_<study>`` — exactly 6 digits, ``_``, 5 digits — belongs to ``<patient>``
    (``100001_00002`` → ``100001``); any other id (``case_003``, ``100001``, ``100001_1``) is its own patient and
    is returned unchanged. ``pdacrad synth`` writes ``9xxxxx_00001``, one study per patient.
    """
    match = PANORAMA_CASE_ID.fullmatch(case)
    return match["patient"] if match else case


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


def patient_grouped_folds(
    table: pd.DataFrame, n_folds: int = 5, bin_size_voxels: int = 500, seed: int = 12345
) -> list[list[str]]:
    """Validation case ids of each fold from a table with ``case`` and ``lesion_voxels`` columns, every study of a
    patient (:func:`patient_id`) in the same fold, stratified by lesion-size bin.

    Raises:
        InvalidInputError: fewer patients than folds, or a case listed twice.
    """
    if table["case"].duplicated().any():
        raise InvalidInputError("The cases table lists a case twice.")
    table = table.sort_values("case", ignore_index=True)  # the folds must not depend on the table's row order
    patients = table["case"].map(patient_id)
    if patients.nunique() < n_folds:
        raise InvalidInputError(
            f"{patients.nunique()} patients ({len(table)} cases) cannot fill {n_folds} folds: every study of a "
            "patient goes to the same fold (splits.group_by: case splits by case)."
        )
    bins = table["lesion_voxels"].map(lambda v: size_bin(int(v), bin_size_voxels)).to_numpy()
    bins = _coarsened(bins, n_folds)
    folder = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # Large-lesion bins are rare by nature; that some have fewer cases than folds is expected, not news.
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        folds = [table["case"].iloc[val] for _, val in folder.split(table, bins, groups=patients)]
    return [sorted(map(str, f)) for f in folds]


def _coarsened(bins: np.ndarray, n_folds: int) -> np.ndarray:
    """``bins``, or coarser classes where no bin has ``n_folds`` cases (a tiny cohort; StratifiedGroupKFold
    refuses classes that all miss a fold): negatives vs positives, else one class (fold sizes balanced only)."""
    if np.bincount(bins).max() >= n_folds:
        return bins
    labels = np.minimum(bins, 1)
    coarse, name = (
        (labels, "negatives vs positives") if np.bincount(labels).max() >= n_folds else (0 * bins, "size")
    )
    logger.info("splits: no lesion-size bin has %d cases; folds stratified by %s only.", n_folds, name)
    return coarse


def split_patients(folds: list[list[str]]) -> dict[str, list[int]]:
    """Patients (:func:`patient_id`) whose cases lie in more than one fold → their fold indices (ascending)."""
    where: dict[str, set[int]] = {}
    for k, fold in enumerate(folds):
        for case in fold:
            where.setdefault(patient_id(case), set()).add(k)
    return {p: sorted(ks) for p, ks in sorted(where.items()) if len(ks) > 1}


def folds_from_config(
    splits: SplitsConfig, table: pd.DataFrame, baseline_file: str | None
) -> list[list[str]]:
    """The folds ``splits`` asks for over ``table``'s cases: the baseline fold file ``baseline_file`` with
    ``source: baseline`` (``group_by`` does not apply), else grouped by patient or by case."""
    if splits.source == "baseline":
        return baseline_folds(Path(str(baseline_file)), list(table["case"]))
    maker = patient_grouped_folds if splits.group_by == "patient" else size_stratified_folds
    return maker(table, splits.n_folds, splits.bin_size_voxels, splits.seed)


def splits_report(
    folds: list[list[str]], table: pd.DataFrame, splits: SplitsConfig, baseline_file: str | None
) -> dict[str, Any]:
    """What the folds are made of, as JSON: where they came from, per fold the cases, patients and cases per
    lesion-size bin (``{bin: count}``), and the patients split across folds (``split_patients``: patient → folds)."""
    bins = dict(
        zip(
            table["case"],
            table["lesion_voxels"].map(lambda v: size_bin(int(v), splits.bin_size_voxels)),
            strict=True,
        )
    )
    studies = table["case"].map(patient_id).value_counts()
    split = split_patients(folds)
    return {
        "source": splits.source,
        "group_by": None if splits.source == "baseline" else splits.group_by,
        "baseline_file": baseline_file if splits.source == "baseline" else None,
        "seed": None if splits.source == "baseline" else splits.seed,
        "bin_size_voxels": splits.bin_size_voxels,
        "patient_rule": "PANORAMA <6-digit patient>_<5-digit study>; any other id is its own patient",
        "n_cases": len(table),
        "n_patients": int(studies.size),
        "n_patients_with_several_studies": int((studies > 1).sum()),
        "folds": [
            {
                "cases": len(fold),
                "patients": len({patient_id(c) for c in fold}),
                "size_bins": {str(b): n for b, n in sorted(Counter(bins[c] for c in fold).items())},
            }
            for fold in folds
        ],
        "n_split_patients": len(split),
        "split_patients": split,
    }


def splits_phrase(splits: SplitsConfig) -> str:
    """How the folds were made, in a few words for the report (``stratified splits by patient, seed 12345``)."""
    if splits.source == "baseline":
        return "the PANORAMA baseline's fold files"
    return f"{splits.source} splits by {splits.group_by}, seed {splits.seed}"


def split_patients_note(ws: Workspace, stage: StageConfig) -> str:
    """A sentence naming the patients whose studies ``stage``'s folds put in several folds (from its
    ``splits_report.json``), or ``""`` when none (or no report: folds written before it existed)."""
    path = ws.splits_report(stage)
    split = json.loads(path.read_text())["split_patients"] if path.is_file() else {}
    if not split:
        return ""
    return (
        f" The folds put studies of {len(split)} patient(s) in more than one fold, so their validation cases share "
        f"a patient with training cases: {', '.join(split)} ({path.name})."
    )


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
