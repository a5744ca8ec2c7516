"""The ablation study's documented cohort command (docs/ablation/README.md and the config header) is one and the
same, runs, and makes the cohort the study config reads."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from pdacrad.cli import app

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "docs" / "ablation" / "README.md"
CONFIG = ROOT / "training" / "configs" / "synthetic-ablation.yaml"


def _synth_command(text: str) -> list[str]:
    """The arguments of the first `pdacrad synth` command in ``text`` (continuation lines and comment marks joined)."""
    joined = re.sub(r"\\\n#?\s*", " ", text)
    line = next(line for line in joined.splitlines() if "pdacrad synth " in line)
    return shlex.split(line.split("pdacrad synth ", 1)[1])


def test_readme_and_config_document_the_same_cohort_and_it_runs(tmp_path: Path) -> None:
    from pdacrad_train.config import load_config

    documented = _synth_command(README.read_text())
    assert documented == _synth_command(CONFIG.read_text())
    options = dict(zip(documented[::2], documented[1::2], strict=False))
    config = load_config(CONFIG)
    assert config.cohort.source == "folder" and options["--out"] == config.cohort.path
    assert int(options["--n"]) >= 60 and float(options["--positive-fraction"]) == 0.5
    assert "--balanced-sizes" in documented

    from pdacrad_train.radiomics_config import load_radiomics_config

    rcfg = load_radiomics_config(config)
    assert rcfg.source.endswith("synthetic-ablation.radiomics.yaml") and rcfg.selection.mode == "per-fold"
    # The design's claim: maps on the Stage-2 network's own grid (x, y, z vs z, y, x), no extra resolution.
    assert tuple(reversed(rcfg.maps.resampled_spacing_xyz)) == config.stage2.target_spacing_zyx
    assert not config.experiment.allow_gt_masks and set(config.experiment.variants) == {
        "base",
        "maps",
        "global",
        "both",
    }

    small = [a for a in documented if a != "--balanced-sizes"]
    small[small.index("--out") + 1] = str(tmp_path / "cohort")
    small[small.index("--n") + 1] = "6"
    small[small.index("--size") + 1] = "64,64,32"
    result = CliRunner().invoke(app, ["synth", *small, "--balanced-sizes"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "cohort" / "cases.csv", dtype={"case": str})
    assert set(table["lesion_kind"]) <= {"none", "texture", "hypo", "both"} and table["label"].sum() == 3
