"""`pdacrad maps --batch`: a PyRadiomics batch CSV of small real-CT cases in one process — every case written,
finished cases skipped on a second run, a broken case reported without stopping the others, an invalid CSV
refused with exit code 2 and one line."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from typer.testing import CliRunner

from pdacrad.cli import app
from pdacrad.radiomics import compute_maps, load_settings
from pdacrad.radiomics.batch import SUMMARY, case_id_of, read_batch_csv
from tests.radiomics.reference import real_ct_roi

FEATURES = ["original_firstorder_Mean", "original_glcm_Contrast"]
PARAMS = "setting: {binWidth: 25}\nvoxelSetting: {kernelRadius: 1, initValue: -5}\n"


def _cases(folder: Path, n: int) -> list[tuple[Path, Path]]:
    """``n`` small real cases (slabs of 6 slices of the tests' CT crop and its pancreas mask) as files."""
    image, mask = real_ct_roi()
    out = []
    for i in range(n):
        index, size = [0, 0, 3 + 3 * i], [image.GetSize()[0], image.GetSize()[1], 6]
        paths = folder / f"ct_{i}.nii.gz", folder / f"ct_{i}_mask.nii.gz"
        sitk.WriteImage(sitk.RegionOfInterest(image, size, index), str(paths[0]))
        sitk.WriteImage(sitk.RegionOfInterest(mask, size, index), str(paths[1]))
        out.append(paths)
    return out


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def _maps(args: list[str], tmp_path: Path):  # type: ignore[no-untyped-def]
    params = tmp_path / "p.yaml"
    params.write_text(PARAMS)
    return CliRunner().invoke(
        app,
        ["maps", *args, "--params", str(params), "--features", ",".join(FEATURES), "--device", "cpu"],
    )


def _summary(out: Path) -> list[dict[str, str]]:
    with (out / SUMMARY).open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_case_is_written_and_a_second_run_skips_them(tmp_path: Path) -> None:
    (tmp_path / "cases").mkdir()
    (image0, mask0), (image1, mask1), (image2, mask2) = _cases(tmp_path / "cases", 3)
    table = _write_csv(
        tmp_path / "batch.csv",
        ["Image", "Mask", "Label", "ID"],
        [
            ["cases/ct_0.nii.gz", "cases/ct_0_mask.nii.gz", "", ""],  # relative to the CSV; id: the file stem
            [str(image1), str(mask1), "1", "second"],
            ["cases/ct_2.nii.gz", "cases/ct_2_mask.nii.gz", "1", ""],
        ],
    )
    out = tmp_path / "out"
    result = _maps(["--batch", str(table), "--out", str(out)], tmp_path)
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {SUMMARY, "ct_0", "ct_2", "second"}
    assert [(r["case"], r["status"], r["message"]) for r in _summary(out)] == [
        ("ct_0", "done", ""),
        ("second", "done", ""),
        ("ct_2", "done", ""),
    ]
    # each case's maps are exactly what one compute_maps call gives, in that case image's geometry
    settings = load_settings(tmp_path / "p.yaml")
    for case, image, mask in [("ct_0", image0, mask0), ("second", image1, mask1), ("ct_2", image2, mask2)]:
        want = compute_maps(sitk.ReadImage(str(image)), sitk.ReadImage(str(mask)), settings, FEATURES, "cpu")
        assert sorted(p.name for p in (out / case).iterdir()) == sorted(f"{n}.nii.gz" for n in FEATURES)
        for name in FEATURES:
            got = sitk.ReadImage(str(out / case / f"{name}.nii.gz"))
            assert got.GetSize() == sitk.ReadImage(str(image)).GetSize()
            assert np.array_equal(
                sitk.GetArrayFromImage(got), sitk.GetArrayFromImage(want[name]), equal_nan=True
            )
    # resumed: finished cases are skipped (not rewritten); a temporary folder an interrupted run left is removed
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/*.nii.gz")}
    (out / ".ct_2.partial").mkdir()
    again = _maps(["--batch", str(table), "--out", str(out)], tmp_path)
    assert again.exit_code == 0, again.output
    assert [r["status"] for r in _summary(out)] == ["skipped"] * 3
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/*.nii.gz")} == stamps
    assert not (out / ".ct_2.partial").exists()


def test_a_broken_case_is_reported_and_the_others_finish(tmp_path: Path) -> None:
    (image0, mask0), (image1, mask1) = _cases(tmp_path, 2)
    table = _write_csv(
        tmp_path / "batch.csv",
        ["Image", "Mask", "Label"],
        [
            [str(image0), str(mask0), "1"],
            ["missing.nii.gz", str(mask0), "1"],  # no such image
            [str(image1), str(mask1), "7"],  # no voxel of label 7
            [str(image1), str(mask1), "1"],
        ],
    )
    ids = _write_csv(
        tmp_path / "ids.csv",
        ["ID", "Image", "Mask", "Label"],
        [
            ["a", str(image0), str(mask0), "1"],
            ["b", "missing.nii.gz", str(mask0), "1"],
            ["c", str(image1), str(mask1), "7"],
            ["d", str(image1), str(mask1), "1"],
        ],
    )
    out = tmp_path / "out"
    with pytest.raises(Exception, match="repeats"):  # ct_1 twice without an ID column: outputs would collide
        read_batch_csv(table)
    result = _maps(["--batch", str(ids), "--out", str(out)], tmp_path)
    assert result.exit_code == 1
    assert "2 of 4 case(s) failed (first b: image not found" in result.output
    rows = _summary(out)
    assert [(r["case"], r["status"]) for r in rows] == [
        ("a", "done"),
        ("b", "failed"),
        ("c", "failed"),
        ("d", "done"),
    ]
    assert "image not found" in rows[1]["message"] and "7" in rows[2]["message"]
    assert all(float(r["seconds"]) >= 0 for r in rows)
    assert {p.name for p in out.iterdir()} == {SUMMARY, "a", "d"}  # nothing half-written for b, c


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "batch CSV not found"),
        ("Image,Label\nct.nii.gz,1\n", "has no Mask column"),
        ("Image,Mask\n", "lists no case"),
        ("Image,Mask,Label\nct.nii.gz,m.nii.gz,one\n", "line 2: Label 'one' is not an integer"),
        ("Image,Mask\nct.nii.gz,m.nii.gz\nct.nii.gz,m2.nii.gz\n", "line 3: case id 'ct' repeats line 2"),
        ("ID,Image,Mask\n../up,ct.nii.gz,m.nii.gz\n", "cannot be a folder name"),
        ("Image,Mask\nct.nii.gz,\n", "line 2: Image and Mask must both be given"),
    ],
)
def test_an_invalid_csv_exits_2_with_one_line(tmp_path: Path, content: str | None, expected: str) -> None:
    table = tmp_path / "cases.csv"
    if content is not None:
        table.write_text(content)
    result = _maps(["--batch", str(table), "--out", str(tmp_path / "out")], tmp_path)
    assert result.exit_code == 2
    assert expected in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "out").exists()


def test_batch_and_one_case_are_mutually_exclusive(tmp_path: Path) -> None:
    table = _write_csv(tmp_path / "cases.csv", ["Image", "Mask"], [["ct.nii.gz", "m.nii.gz"]])
    both = _maps(["--batch", str(table), "--image", "ct.nii.gz", "--out", str(tmp_path / "o")], tmp_path)
    assert both.exit_code == 2 and "either --batch or --image and --mask, not both" in both.output
    neither = _maps(["--out", str(tmp_path / "o")], tmp_path)
    assert neither.exit_code == 2 and "give --image and --mask" in neither.output
    assert not (tmp_path / "o").exists()


def test_an_invalid_request_stops_before_any_case(tmp_path: Path) -> None:
    ((image0, mask0),) = _cases(tmp_path, 1)
    table = _write_csv(tmp_path / "cases.csv", ["Image", "Mask"], [[str(image0), str(mask0)]])
    result = CliRunner().invoke(
        app, ["maps", "--batch", str(table), "--out", str(tmp_path / "o"), "--features", "original_glcm_Nope"]
    )
    assert result.exit_code == 2 and "Nope" in result.output
    assert not (tmp_path / "o").exists()


def test_case_id_is_the_image_name_without_its_extension() -> None:
    assert case_id_of(Path("/x/ct_001.nii.gz")) == "ct_001"
    assert case_id_of(Path("a.b.mha")) == "a.b"
    assert case_id_of(Path("scan.NRRD")) == "scan"
    assert case_id_of(Path("plain")) == "plain"
