"""Dataset contract of :func:`pdacrad.synth.generate_cohort`: files, labels, cases.csv, geometry, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from scipy import ndimage

from pdacrad.errors import InvalidInputError
from pdacrad.synth import CASES_CSV_COLUMNS, case_id, generate_case, generate_cohort
from pdacrad.synth.cohort import plan_cohort, write_image_atomic

from .conftest import COHORT_N, COHORT_SEED, SMALL_SIZE


def _read(path: Path) -> tuple[sitk.Image, np.ndarray]:
    img = sitk.ReadImage(str(path))
    return img, sitk.GetArrayFromImage(img)


def test_files_and_table_match(small_cohort: tuple[Path, pd.DataFrame]) -> None:
    out, table = small_cohort
    on_disk = pd.read_csv(out / "cases.csv", dtype={"case": str})
    assert tuple(on_disk.columns) == CASES_CSV_COLUMNS
    pd.testing.assert_frame_equal(on_disk, table)
    assert (
        list(table["case"])
        == [case_id(k) for k in range(COHORT_N)]
        == [f"{900000 + k}_00001" for k in range(COHORT_N)]
    )
    assert sorted(p.name for p in (out / "imagesTr").iterdir()) == [f"{c}_0000.nii.gz" for c in table["case"]]
    assert sorted(p.name for p in (out / "labelsTr").iterdir()) == [f"{c}.nii.gz" for c in table["case"]]
    assert set(table["label"]) == {0, 1}, "a 6-case cohort at fraction 0.5 holds both classes"
    for row in table.itertuples():
        img, ct = _read(out / "imagesTr" / f"{row.case}_0000.nii.gz")
        lab_img, lab = _read(out / "labelsTr" / f"{row.case}.nii.gz")
        assert img.GetPixelID() == sitk.sitkInt16 and lab_img.GetPixelID() == sitk.sitkUInt8
        assert img.GetSize() == lab_img.GetSize() == SMALL_SIZE
        assert img.GetSpacing() == lab_img.GetSpacing() and img.GetOrigin() == lab_img.GetOrigin()
        assert set(np.unique(lab)) <= set(range(7))
        assert {2, 3, 4, 5, 6} <= set(np.unique(lab)), f"{row.case}: every structure is present"
        n_lesion = int((lab == 1).sum())
        assert row.lesion_volume_voxels == n_lesion
        assert row.label == int(n_lesion > 0)
        assert (row.lesion_kind == "none") == (row.label == 0)
        assert row.lesion_kind in {"none", "hypo", "texture"}
        assert ct.min() >= -1024 and ct.max() <= 3071


def test_lesions_touch_the_pancreas(small_cohort: tuple[Path, pd.DataFrame]) -> None:
    out, table = small_cohort
    for row in table[table["label"] == 1].itertuples():
        _, lab = _read(out / "labelsTr" / f"{row.case}.nii.gz")
        comps, n = ndimage.label(lab == 1, structure=np.ones((3, 3, 3)))
        assert n >= 1
        pancreas = lab == 4
        for c in range(1, n + 1):
            touching = ndimage.binary_dilation(comps == c, structure=np.ones((3, 3, 3))) & pancreas
            assert touching.any(), f"{row.case}: lesion component {c} does not touch the pancreas (26-nbh)"


@pytest.mark.parametrize("seed", [0, 1])
def test_pancreas_is_segmentable_at_stage1_resolution(seed: int) -> None:
    """At the default size Stage 1 sees the pancreas at 4.5 × 4.5 × 9 mm: it must be ≥ 3 such voxels thick
    and cover a useful number of them after resampling."""
    image, labels, _ = generate_case("x", seed, False)
    sx, sy, sz = image.GetSpacing()
    lab = sitk.GetArrayFromImage(labels)
    depth_mm = ndimage.distance_transform_edt(np.isin(lab, (4, 5)), sampling=(sz, sy, sx)).max()
    assert 2 * depth_mm >= 3 * 4.5, f"pancreas at most {2 * depth_mm:.1f} mm thick"
    low_spacing = (4.5, 4.5, 9.0)
    low_size = [
        round(n * s / t) for n, s, t in zip(image.GetSize(), image.GetSpacing(), low_spacing, strict=True)
    ]
    mask = sitk.Cast(labels == 4, sitk.sitkFloat32)
    low = sitk.Resample(
        mask,
        low_size,
        sitk.Transform(),
        sitk.sitkLinear,
        image.GetOrigin(),
        low_spacing,
        image.GetDirection(),
    )
    low_mask = sitk.GetArrayFromImage(low) > 0.5
    assert low_mask.sum() >= 100 and low_mask.any(axis=(1, 2)).sum() >= 4


def test_geometry_as_requested(small_cohort: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    out, table = small_cohort
    for c in table["case"]:
        img = sitk.ReadImage(str(out / "imagesTr" / f"{c}_0000.nii.gz"))
        sx, sy, sz = img.GetSpacing()
        assert 0.6 <= sx == sy <= 0.9 and 1.5 <= sz <= 3.0
        assert img.GetDirection() == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    spacings = {sitk.ReadImage(str(p)).GetSpacing() for p in (out / "imagesTr").iterdir()}
    assert len(spacings) > 1, "spacing is drawn per case"

    image, labels, _ = generate_case("x", 3, False, size_xyz=(40, 48, 36), spacing_xyz_mm=(0.8, 0.7, 2.5))
    write_image_atomic(image, tmp_path / "x.nii.gz")
    back = sitk.ReadImage(str(tmp_path / "x.nii.gz"))
    assert back.GetSize() == (40, 48, 36) == labels.GetSize()
    np.testing.assert_allclose(back.GetSpacing(), (0.8, 0.7, 2.5), rtol=0, atol=1e-6)
    np.testing.assert_allclose(back.GetOrigin(), image.GetOrigin(), rtol=0, atol=1e-4)

    generate_cohort(tmp_path / "c", 2, seed=1, size_xyz=(40, 40, 32), inplane_spacing_mm=(1.1, 1.1),
                    slice_spacing_mm=(4.0, 4.0), progress=False)  # fmt: skip
    for p in (tmp_path / "c" / "imagesTr").iterdir():
        np.testing.assert_allclose(sitk.ReadImage(str(p)).GetSpacing(), (1.1, 1.1, 4.0), atol=1e-6)


def _bytes(folder: Path) -> dict[str, bytes]:
    return {f"{p.parent.name}/{p.name}": p.read_bytes() for p in sorted(folder.glob("*Tr/*.nii.gz"))}


def test_same_seed_same_bytes_and_prefix_stable(
    small_cohort: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    out, _ = small_cohort
    again = tmp_path / "again"
    generate_cohort(again, 3, seed=COHORT_SEED, size_xyz=SMALL_SIZE, progress=False)
    reference = _bytes(out)
    fresh = _bytes(again)
    assert len(fresh) == 6
    # Same seed → identical bytes; a 3-case run reproduces the first 3 cases of the 6-case run.
    assert all(fresh[name] == reference[name] for name in fresh)
    assert (again / "cases.csv").read_text().splitlines() == (out / "cases.csv").read_text().splitlines()[:4]

    other = tmp_path / "other"
    generate_cohort(other, 3, seed=COHORT_SEED + 1, size_xyz=SMALL_SIZE, progress=False)
    differ = _bytes(other)
    assert all(differ[name] != reference[name] for name in differ if name.startswith("imagesTr"))


def test_rerun_with_fewer_cases_warns_about_leftovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    generate_cohort(tmp_path, 2, size_xyz=(40, 40, 32), progress=False)
    with caplog.at_level("WARNING", logger="pdacrad.synth"):
        table = generate_cohort(tmp_path, 1, size_xyz=(40, 40, 32), progress=False)
    assert len(table) == 1 and len(pd.read_csv(tmp_path / "cases.csv")) == 1
    assert any(
        "not in cases.csv" in r.getMessage() and "900001_00001" in r.getMessage() for r in caplog.records
    )


def test_plan_fractions_and_prefix() -> None:
    plan = plan_cohort(200, seed=3, positive_fraction=0.3, texture_fraction=0.5)
    positives = [kind for pos, kind in plan if pos]
    assert abs(len(positives) - 60) <= 2, "low-discrepancy: close to the requested fraction"
    assert abs(positives.count("texture") - len(positives) / 2) <= 2
    assert plan_cohort(50, 3, 0.3, 0.5) == plan[:50]
    assert not any(p for p, _ in plan_cohort(20, 0, 0.0, 0.5))
    assert all(p and k == "hypo" for p, k in plan_cohort(20, 0, 1.0, 0.0))


def test_interrupted_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = sitk.Image(8, 8, 8, sitk.sitkInt16)

    def crash(img: sitk.Image, name: str, *args: object, **kwargs: object) -> None:
        Path(name).write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(sitk, "WriteImage", crash)
    with pytest.raises(KeyboardInterrupt):
        write_image_atomic(image, tmp_path / "case_0000.nii.gz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "number of cases"),
        ({"n": 2, "positive_fraction": 1.5}, "positive fraction"),
        ({"n": 2, "texture_fraction": -0.1}, "texture fraction"),
        ({"n": 2, "size_xyz": (96, 96)}, "size"),
        ({"n": 2, "size_xyz": (96, 96, 8)}, "size"),
        ({"n": 2, "inplane_spacing_mm": (0.9, 0.6)}, "in-plane spacing"),
        ({"n": 2, "slice_spacing_mm": (0.0, 3.0)}, "slice spacing"),
    ],
)
def test_invalid_options_raise_and_write_nothing(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        generate_cohort(tmp_path / "out", progress=False, **kwargs)
    assert not (tmp_path / "out").exists()


def test_generate_case_kind_arguments() -> None:
    with pytest.raises(InvalidInputError, match="negative case"):
        generate_case("x", 0, False, "hypo", size_xyz=(48, 48, 32))
    with pytest.raises(InvalidInputError, match="lesion_kind"):
        generate_case("x", 0, True, "cyst", size_xyz=(48, 48, 32))
