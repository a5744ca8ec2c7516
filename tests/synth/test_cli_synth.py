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
                   "--inplane-spacing", "--slice-spacing", "imagesTr", "cases.csv"):  # fmt: skip
        assert option in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--n", "0"],
        ["--n", "2", "--positive-fraction", "2"],
        ["--n", "2", "--size", "64,64"],
        ["--n", "2", "--size", "a,b,c"],
        ["--n", "2", "--slice-spacing", "3,1.5"],
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
