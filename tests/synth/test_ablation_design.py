"""The ablation study's documented cohort command (docs/ablation/README.md) is the config's `cohort:` (which
tests/training/steps/test_prepare.py shows gives the command's bytes), and it runs."""

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
    options = {
        flag: value
        for flag, value in zip(documented, [*documented[1:], ""], strict=True)
        if flag.startswith("--") and not value.startswith("--")
    }
    config = load_config(CONFIG)
    cohort = config.cohort
    assert cohort.source == "synth" and Path(options["--out"]) == Path(config.work_dir) / "cohort"
    assert (int(options["--n"]), int(options["--seed"])) == (cohort.n, cohort.seed) and cohort.n >= 60
    assert float(options["--positive-fraction"]) == cohort.positive_fraction == 0.5
    assert (options["--lesion-mix"], options["--confounders"]) == (cohort.lesion_mix, cohort.confounders)
    assert tuple(float(v) for v in options["--lesion-diameter"].split(",")) == cohort.lesion_diameter_mm
    assert tuple(int(v) for v in options["--size"].split(",")) == cohort.size_xyz
    assert ("--balanced-sizes" in documented) == cohort.balanced_sizes is True

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
