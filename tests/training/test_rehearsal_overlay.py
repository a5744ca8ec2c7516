"""The full-size rehearsal's config (benchmarks/rehearsal.py): panorama.yaml with only its schedule and this
machine's run settings changed — plans, networks, splits and map settings stay the recipe's."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pdacrad_train.config import load_config
from pdacrad_train.radiomics_config import load_radiomics_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rehearsal() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rehearsal", ROOT / "benchmarks" / "rehearsal.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["rehearsal"] = module
    spec.loader.exec_module(module)
    return module


def test_the_rehearsal_config_is_the_recipe_but_for_schedule_and_site(
    rehearsal: ModuleType, tmp_path: Path
) -> None:
    cut = load_config(rehearsal.write_configs(tmp_path))
    real = load_config(ROOT / "training" / "configs" / "panorama.yaml")
    assert cut.stage1 == dataclasses.replace(real.stage1, trainer="nnUNetTrainerRehearsal")
    assert cut.stage2 == dataclasses.replace(real.stage2, trainer="nnUNetTrainerPicaiRehearsal")
    assert cut.splits == real.splits
    assert cut.experiment == dataclasses.replace(
        real.experiment,
        plain_trainer="nnUNetTrainerPicaiRehearsal",
        radiomics_trainer="nnUNetTrainerRadiomicsRehearsal",
        n_bootstrap=cut.experiment.n_bootstrap,
    )
    assert (cut.export.variant, cut.export.folds, cut.export.checkpoint) == (
        real.export.variant, real.export.folds, real.export.checkpoint,
    )  # fmt: skip
    assert Path(cut.export.dir) == tmp_path / "resources" and cut.run.device == "cpu"
    cut_r, real_r = load_radiomics_config(cut), load_radiomics_config(real)
    assert cut_r == dataclasses.replace(real_r, n_workers=1, source=cut_r.source)


@pytest.mark.parametrize(
    "overlay",
    [
        {"stage2": {"patch_size_zyx": [48, 128, 128]}},
        {"maps": {"kernel_radius": 2}},
        {"splits": {"n_folds": 2}},
    ],
)
def test_an_overlay_that_changes_the_recipe_is_refused(rehearsal: ModuleType, overlay: dict) -> None:
    with pytest.raises(ValueError, match="only the schedule"):
        rehearsal.merge({}, overlay)
