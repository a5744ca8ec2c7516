"""`pdacrad synth`: help, exit code 2 with one line on invalid options, files written on a small run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pdacrad.cli import app
from pdacrad.errors import EXIT_INVALID_INPUT

runner = CliRunner()


def test_help_documents_the_options() -> None:
    result = runner.invoke(app, ["synth", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in ("--out", "--n", "--seed", "--positive-fraction", "--texture-fraction", "--size",
                   "--inplane-spacing", "--slice-spacing", "--slices", "--second-study-fraction", "--lesion-mix", "--lesion-diameter", "--balanced-sizes", "--confounders",
                   "dilated_duct", "dilated_cbd", "high_noise", "thick_slices", "imagesTr", "cases.csv"):  # fmt: skip
        assert option in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--n", "0"],
        ["--n", "2", "--positive-fraction", "2"],
        ["--n", "2", "--size", "64,64"],
        ["--n", "2", "--size", "a,b,c"],
        ["--n", "2", "--slice-spacing", "3,1.5"],
        ["--n", "2", "--lesion-mix", "texture=0.5,hypo=0.4"],
        ["--n", "2", "--lesion-mix", "texture=1", "--texture-fraction", "0.5"],
        ["--n", "2", "--lesion-mix", "cyst=1"],
        ["--n", "2", "--confounders", "dilated_duct=2"],
        ["--n", "2", "--confounders", "dilated_duct"],
        ["--n", "2", "--lesion-diameter", "30,10"],
    ],
)
def test_invalid_options_exit_2_with_one_line(tmp_path: Path, args: list[str]) -> None:
    result = runner.invoke(app, ["synth", "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == EXIT_INVALID_INPUT
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("pdacrad synth: error:")
    assert not (tmp_path / "out").exists()


def test_small_run_writes_the_dataset(tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    args = ["synth", "--out", str(out), "--n", "3", "--seed", "5", "--positive-fraction", "1",
            "--texture-fraction", "0", "--size", "48,40,32", "--inplane-spacing", "1.0,1.2"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "cases.csv", dtype={"case": str})
    assert list(table["label"]) == [1, 1, 1] and set(table["lesion_kind"]) == {"hypo"}
    for case in table["case"]:
        assert (out / "imagesTr" / f"{case}_0000.nii.gz").is_file()
        assert (out / "labelsTr" / f"{case}.nii.gz").is_file()
    assert str(out) in result.stderr, "logs where it wrote"


def test_mix_diameter_and_confounders_reach_cases_csv(tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    args = ["synth", "--out", str(out), "--n", "4", "--seed", "3", "--positive-fraction", "1", "--size", "48,40,32",
            "--lesion-mix", "both=1", "--lesion-diameter", "8,12", "--confounders", "high_noise=1,thick_slices=1"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "cases.csv", dtype={"case": str})
    assert set(table["lesion_kind"]) == {"both"}
    assert table["lesion_diameter_mm"].between(8.0, 12.0).all()
    assert (table["high_noise"] == 1).all() and (table["thick_slices"] == 1).all()
    assert (table["dilated_duct"] == 0).all() and (table["dilated_cbd"] == 0).all()
    assert (
        table["slice_spacing_mm"].between(4.0, 5.0).all() and table["noise_sd_hu"].between(25.0, 40.0).all()
    )
