"""Case-level lesion-size stratified folds (``splits.group_by: case``): disjoint, complete, balanced, every bin in
every fold when possible, and the same folds as before patient grouping became the default. (Patient-grouped
folds: test_patient_splits.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from pdacrad_train.splits import baseline_folds, nnunet_splits, size_bin, size_stratified_folds

from pdacrad.errors import InvalidInputError


def _table() -> pd.DataFrame:
    # 10 negatives, 5 lesions in (0, 500], 5 in (500, 1000], 2 in (1000, 1500].
    volumes = [0] * 10 + [50, 120, 300, 499, 500] + [501, 600, 800, 999, 1000] + [1200, 1400]
    return pd.DataFrame({"case": [f"c{i:02d}" for i in range(len(volumes))], "lesion_voxels": volumes})


def test_size_bins_of_500_voxels() -> None:
    assert [size_bin(v) for v in (0, 1, 500, 501, 1000, 1001)] == [0, 1, 1, 2, 2, 3]


def test_folds_are_disjoint_complete_balanced_and_stratified() -> None:
    table = _table()
    folds = size_stratified_folds(table, n_folds=5)
    all_cases = [c for f in folds for c in f]
    assert sorted(all_cases) == sorted(table["case"]) and len(set(all_cases)) == len(all_cases)
    assert max(map(len, folds)) - min(map(len, folds)) <= 1
    bins = dict(zip(table["case"], table["lesion_voxels"].map(size_bin), strict=True))
    for fold in folds:
        present = {bins[c] for c in fold}
        assert {0, 1, 2} <= present  # bins with ≥ 5 cases reach every fold
        assert sum(bins[c] == 0 for c in fold) == 2


def test_case_level_folds_are_the_ones_written_before_patient_grouping() -> None:
    # Output of size_stratified_folds at commit 69e59cb (before #20 item 6): `group_by: case` must keep giving it.
    assert size_stratified_folds(_table()) == [
        ["c04", "c09", "c10", "c15", "c20"],
        ["c06", "c08", "c12", "c19", "c21"],
        ["c00", "c01", "c13", "c17"],
        ["c02", "c03", "c11", "c18"],
        ["c05", "c07", "c14", "c16"],
    ]


def test_folds_are_deterministic_and_depend_on_the_seed() -> None:
    table = _table()
    assert size_stratified_folds(table, seed=3) == size_stratified_folds(
        table.sample(frac=1, random_state=1), seed=3
    )
    assert size_stratified_folds(table, seed=3) != size_stratified_folds(table, seed=4)


def test_too_few_cases_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="cannot fill 5 folds"):
        size_stratified_folds(_table().head(3))


def test_nnunet_splits_train_is_the_complement() -> None:
    folds = size_stratified_folds(_table())
    for i, split in enumerate(nnunet_splits(folds)):
        assert split["val"] == folds[i]
        assert set(split["train"]).isdisjoint(split["val"])
        assert len(split["train"]) + len(split["val"]) == len(_table())


def test_baseline_fold_file(tmp_path: Path) -> None:
    path = tmp_path / "folds.json"
    path.write_text(json.dumps({"Fold 0 validation": ["a", "x"], "Fold 1 validation": ["b"]}))
    assert baseline_folds(path, ["a", "b"]) == [["a"], ["b"]]
    with pytest.raises(InvalidInputError, match="in no fold"):
        baseline_folds(path, ["a", "b", "c"])
