"""Patients with two studies and per-case slice counts: PANORAMA's `<patient>_<study>` ids and slice range, with
the cohorts of the defaults unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import SimpleITK as sitk

from pdacrad.errors import InvalidInputError
from pdacrad.synth import case_id, generate_cohort
from pdacrad.synth.studies import case_slots


def test_defaults_are_one_study_per_patient_with_the_old_ids() -> None:
    slots = case_slots(30, seed=0, size_z=64)
    assert [s.case for s in slots] == [case_id(k) for k in range(30)]
    assert {s.size_z for s in slots} == {64}


def test_second_studies_follow_their_patients_first_and_prefixes_are_stable() -> None:
    slots = case_slots(40, seed=3, size_z=64, second_study_fraction=0.4, slices=(80, 200))
    ids = [s.case for s in slots]
    assert len(set(ids)) == 40
    seconds = [k for k, c in enumerate(ids) if c.endswith("_00002")]
    assert 6 <= len(seconds) <= 18  # ~40 / 1.4 patients × 0.4
    for k in seconds:
        assert ids[k - 1] == ids[k].replace("_00002", "_00001")
    assert case_slots(17, seed=3, size_z=64, second_study_fraction=0.4, slices=(80, 200)) == slots[:17]
    sizes = [s.size_z for s in slots]
    assert min(sizes) >= 80 and max(sizes) <= 200 and len(set(sizes)) > 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"second_study_fraction": 1.5}, "second-study fraction"), ({"slices": (90, 80)}, "slices must be")],
)
def test_invalid_layouts_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        case_slots(4, seed=0, size_z=64, **kwargs)


def test_the_cohort_writes_the_drawn_ids_and_slice_counts(tmp_path: Path) -> None:
    table = generate_cohort(
        tmp_path, 4, seed=1, size_xyz=(64, 64, 40), slices=(32, 48), second_study_fraction=1.0, progress=False
    )
    assert list(table["case"]) == ["900000_00001", "900000_00002", "900001_00001", "900001_00002"]
    for case in table["case"]:
        image = sitk.ReadImage(str(tmp_path / "imagesTr" / f"{case}_0000.nii.gz"))
        labels = sitk.ReadImage(str(tmp_path / "labelsTr" / f"{case}.nii.gz"))
        assert image.GetSize()[:2] == (64, 64) and 32 <= image.GetSize()[2] <= 48
        assert labels.GetSize() == image.GetSize()
