"""Patient-grouped folds (#20): a patient's studies never straddle folds, size bins stay balanced, the folds are
seeded, and the baseline's fold files say which patients they split."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pdacrad_train.config import SplitsConfig, load_config
from pdacrad_train.splits import (
    baseline_folds,
    folds_from_config,
    patient_grouped_folds,
    patient_id,
    size_bin,
    size_stratified_folds,
    split_patients,
    split_patients_note,
    splits_phrase,
)

from pdacrad.errors import InvalidInputError
from pdacrad.synth import case_id

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"


def _shared_patients() -> pd.DataFrame:
    """30 PANORAMA-style patients, every third with two studies (40 cases), lesions in bins 0–3."""
    rng = np.random.default_rng(0)
    rows = [
        (f"{100100 + p:06d}_{s + 1:05d}", int(rng.choice([0, 0, 200, 700, 1200])))
        for p in range(30)
        for s in range(1 + (p % 3 == 0))
    ]
    return pd.DataFrame(rows, columns=["case", "lesion_voxels"])


def _synthetic_cohort() -> pd.DataFrame:
    """What `pdacrad synth` names its cases (one study per patient): 12 negatives, 13 lesions in bins 1–3."""
    volumes = [0] * 12 + [100, 200, 300, 400, 450, 480] + [600, 700, 800, 900, 950] + [1200, 1300]
    return pd.DataFrame({"case": [case_id(i) for i in range(len(volumes))], "lesion_voxels": volumes})


def _bin_spread(table: pd.DataFrame, folds: list[list[str]]) -> dict[int, int]:
    """Per size bin: the most minus the fewest of its cases in one fold."""
    bins = dict(zip(table["case"], table["lesion_voxels"].map(size_bin), strict=True))
    counts = {b: [sum(bins[c] == b for c in fold) for fold in folds] for b in set(bins.values())}
    return {b: max(n) - min(n) for b, n in counts.items()}


def test_patient_id_rule() -> None:
    assert patient_id("100001_00002") == "100001"
    assert patient_id(case_id(7)) == "900007"  # synthetic ids: one study per patient
    for own in ("case_003", "100001", "100001_1", "1000011_00001", "100001_00001.nii.gz"):
        assert patient_id(own) == own


@pytest.mark.parametrize("table", [_shared_patients(), _synthetic_cohort()], ids=["shared", "synthetic"])
@pytest.mark.parametrize("seed", range(6))
def test_no_patient_in_two_folds_and_size_bins_balanced(table: pd.DataFrame, seed: int) -> None:
    folds = patient_grouped_folds(table, n_folds=5, seed=seed)
    cases = [c for f in folds for c in f]
    assert sorted(cases) == sorted(table["case"]) and len(set(cases)) == len(cases)
    assert split_patients(folds) == {}
    fold_of = {c: k for k, f in enumerate(folds) for c in f}
    for patient, group in table.groupby(table["case"].map(patient_id))["case"]:
        assert len({fold_of[c] for c in group}) == 1, patient
    # Every bin here has ≥ 5 cases, so ±1 means every bin reaches every fold. With one study per patient the
    # greedy guarantees ±1; with pairs it is not guaranteed (a pair adds 2 to one fold) but holds for this table.
    assert set(_bin_spread(table, folds).values()) <= {0, 1}
    sizes = [len(f) for f in folds]
    assert min(sizes) > 0 and max(sizes) - min(sizes) <= 2  # whole patients move: ±1 is not always reachable


def test_patient_folds_are_deterministic_per_seed() -> None:
    table = _shared_patients()
    first = patient_grouped_folds(table, seed=7)
    assert patient_grouped_folds(table.sample(frac=1, random_state=3), seed=7) == first
    assert patient_grouped_folds(table, seed=8) != first


def test_tiny_cohorts_fall_back_to_coarser_classes() -> None:
    # 3 cases in 3 folds (the fit/export test): no bin can reach every fold, StratifiedGroupKFold would refuse.
    table = pd.DataFrame({"case": ["case_000", "case_001", "case_002"], "lesion_voxels": [0, 7, 700]})
    assert sorted(map(len, patient_grouped_folds(table, n_folds=3))) == [1, 1, 1]
    two = pd.DataFrame({"case": ["100001_00001", "100001_00002", "100002_00001"], "lesion_voxels": [0, 0, 5]})
    with pytest.raises(InvalidInputError, match=r"2 patients \(3 cases\) cannot fill 3 folds"):
        patient_grouped_folds(two, n_folds=3)


def test_case_level_option_is_the_old_dealer_bit_for_bit() -> None:
    table = _shared_patients()
    for n_folds, seed in ((5, 12345), (2, 3), (4, 0)):
        config = SplitsConfig(group_by="case", n_folds=n_folds, seed=seed)
        assert folds_from_config(config, table, None) == size_stratified_folds(table, n_folds, 500, seed)
    # and it does split patients, which is why it is no longer the default
    assert split_patients(folds_from_config(SplitsConfig(group_by="case"), table, None))
    assert folds_from_config(SplitsConfig(), table, None) == patient_grouped_folds(table)


def test_split_patients_names_the_patients_and_their_folds(tmp_path: Path) -> None:
    path = tmp_path / "folds.json"
    path.write_text(
        json.dumps(
            {
                "Fold 0 validation": ["100001_00001", "100002_00001", "case_a"],
                "Fold 1 validation": ["100001_00002", "100003_00001", "100002_00002"],
                "Fold 2 validation": ["100003_00002", "100001_00003", "case_b"],
            }
        )
    )
    cases = ["100001_00001", "100001_00002", "100001_00003", "100002_00001", "100003_00001", "100003_00002"]
    folds = baseline_folds(path, [*cases, "100002_00002", "case_a", "case_b"])
    assert split_patients(folds) == {"100001": [0, 1, 2], "100002": [0, 1], "100003": [1, 2]}
    # restricted to the cohort: 100002's second study is not in it, so 100002 is no longer split
    assert split_patients(baseline_folds(path, cases)) == {"100001": [0, 1, 2], "100003": [1, 2]}


@pytest.mark.parametrize("stage", [1, 2])
def test_shipped_baseline_folds_split_eleven_patients(stage: int) -> None:
    path = CONFIGS / f"panorama_baseline_stage{stage}_folds.json"
    data = json.loads(path.read_text())
    cases = sorted(c for ids in data.values() for c in ids)
    studies = Counter(map(patient_id, cases))
    several = {p for p, n in studies.items() if n > 1}
    split = split_patients(baseline_folds(path, cases))
    # 2,238 cases of 2,224 patients; every one of the 11 patients with several studies straddles folds
    assert (len(cases), len(studies), len(several)) == (2238, 2224, 11)
    assert set(split) == several and sum(studies[p] for p in split) == 25
    assert max(len(folds) for folds in split.values()) == 4  # the patient with 5 studies spans 4 of 5 folds


def test_splits_step_writes_the_report_and_warns_about_split_patients(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from pdacrad_train.steps.prepare import write_splits
    from pdacrad_train.workspace import workspace

    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.setenv(name, str(tmp_path / "work" / name))
    table = _shared_patients()
    fold_file = tmp_path / "baseline.json"  # case-level folds, which split some patients
    folds = size_stratified_folds(table, n_folds=5, seed=1)
    fold_file.write_text(json.dumps({f"Fold {k} validation": f for k, f in enumerate(folds)}))
    expected = split_patients(folds)
    assert expected
    from dataclasses import replace

    config = load_config(CONFIGS / "synthetic-demo.yaml", tmp_path / "work")
    config = replace(
        config, splits=replace(config.splits, group_by="patient")
    )  # the synthetic recipes pin case
    ws = workspace(config)
    ws.root.mkdir(parents=True, exist_ok=True)
    table.to_csv(ws.cases_table, index=False)

    caplog.set_level(logging.WARNING)
    write_splits(config, ws)  # the default: grouped by patient, nothing to warn about
    report = json.loads(ws.splits_report(config.stage2).read_text())
    assert report["group_by"] == "patient" and report["split_patients"] == {}
    assert (report["n_patients"], report["n_patients_with_several_studies"]) == (30, 10)
    assert sum(f["cases"] for f in report["folds"]) == 40 and not caplog.records
    assert split_patients_note(ws, config.stage2) == ""
    assert splits_phrase(config.splits) == "stratified splits by patient, seed 12345"

    baseline = replace(
        config,
        splits=replace(
            config.splits, source="baseline", baseline_stage1=str(fold_file), baseline_stage2=str(fold_file)
        ),
    )
    write_splits(baseline, ws)
    for stage in (baseline.stage1, baseline.stage2):
        report = json.loads(ws.splits_report(stage).read_text())
        assert report["source"] == "baseline" and report["split_patients"] == expected
        assert report["n_split_patients"] == len(expected)
        assert [v for s in json.loads(ws.splits_file(stage).read_text()) for v in [s["val"]]] == folds
    note = split_patients_note(ws, baseline.stage2)  # the evaluation report's sentence
    assert f"{len(expected)} patient(s)" in note and all(p in note for p in expected)
    warning = caplog.records[-1].getMessage()
    assert f"{len(expected)} of 10 patients" in warning
    assert all(f"{p} (folds {'/'.join(map(str, ks))})" in warning for p, ks in expected.items())


def test_config_key_group_by(tmp_path: Path) -> None:
    import yaml

    assert load_config(CONFIGS / "panorama.yaml").splits.group_by == "patient"
    for name in ("synthetic-demo.yaml", "synthetic-ablation.yaml", "synthetic-demo-radiomics.yaml"):
        # phantoms are one study per patient; case-level keeps the committed record's and the demo's folds
        assert load_config(CONFIGS / name).splits.group_by == "case"
    data = yaml.safe_load((CONFIGS / "synthetic-demo.yaml").read_text())
    del data["splits"]["group_by"]  # a recipe written before the key: the new default
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(data))
    assert load_config(tmp_path / "c.yaml").splits.group_by == "patient"
    for value, ok in (("case", True), ("study", False)):
        data["splits"]["group_by"] = value
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(data))
        if ok:
            assert load_config(tmp_path / "c.yaml").splits.group_by == "case"
        else:
            with pytest.raises(
                InvalidInputError, match=r"splits\.group_by: 'study' is not one of 'patient', 'case'"
            ):
                load_config(tmp_path / "c.yaml")
