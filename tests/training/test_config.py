"""Config loading: the shipped configs parse; typos and wrong types fail with the key's path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pdacrad_train.config import load_config

from pdacrad.errors import InvalidInputError

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"


@pytest.mark.parametrize("name", ["synthetic-demo.yaml", "panorama.yaml"])
def test_shipped_configs_load(name: str) -> None:
    config = load_config(CONFIGS / name)
    assert config.stage1.dataset_id != config.stage2.dataset_id
    assert config.stage2.margins_mm_xyz == (100.0, 50.0, 15.0)
    assert config.source.endswith(name)


def test_panorama_config_carries_the_reference_stage1_recipe() -> None:
    config = load_config(CONFIGS / "panorama.yaml")
    assert config.stage1.target_spacing_zyx == (9.0, 4.5, 4.5)
    assert config.stage1.patch_size_zyx == (48, 96, 96)
    assert config.stage2.target_spacing_zyx is None  # nnU-Net's own 3d_fullres plan
    assert config.export.demo is False


def _write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load((CONFIGS / "synthetic-demo.yaml").read_text())
    mutate(data)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["stage1"].update(patch_size_zyx=[1, 2]),
            r"stage1\.patch_size_zyx: expected a list of 3",
        ),
        (lambda d: d["stage2"].update(bogus=1), r"stage2: unknown key\(s\) bogus"),
        (lambda d: d.pop("stage1"), r"stage1: missing required key"),
        (lambda d: d["cohort"].update(n="many"), r"cohort\.n: expected int"),
        (lambda d: d["cohort"].update(source="web"), r"cohort\.source: 'web' is not one of"),
        (lambda d: d["stage1"].update(fold=7), r"stage1\.fold: must be 'all' or 0\.\.4"),
        (lambda d: d["stage2"].update(dataset_id=d["stage1"]["dataset_id"]), "must differ"),
        (lambda d: d["cohort"].update(source="folder"), r"cohort\.path: required"),
        (lambda d: d["run"].update(device="tpu"), r"run\.device"),
        (
            lambda d: d["run"].update(
                num_gpus=4
            ),  # synthetic-demo's stage batch is 2: nnU-Net's DDP refuses it
            r"stage1: batch size 2 < run\.num_gpus 4; .* Set stage1\.batch_size: 4 or more",
        ),
    ],
)
def test_invalid_configs_name_the_key(tmp_path: Path, mutate, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        load_config(_write(tmp_path, mutate))


def test_work_dir_override_and_missing_file(tmp_path: Path) -> None:
    assert load_config(CONFIGS / "synthetic-demo.yaml", tmp_path).work_dir == str(tmp_path)
    with pytest.raises(InvalidInputError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_experiment_lists_are_read_and_checked(tmp_path) -> None:
    data = yaml.safe_load((CONFIGS / "synthetic-demo.yaml").read_text())
    data["experiment"] = {"variants": ["base", "both"], "folds": [0, 2]}
    data["export"] = {"variant": "both", "folds": [1]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(data))
    config = load_config(tmp_path / "c.yaml")
    assert config.experiment.variants == ("base", "both") and config.folds == (0, 2)
    assert config.export.folds == (1,)
    for experiment, message in (
        ({"variants": ["baseline"]}, "experiment.variants"),
        ({"folds": [0, 5]}, "experiment.folds"),
        ({"folds": "0"}, "expected a list"),
        ({"maps_dataset_id": 901}, "maps_dataset_id"),
    ):
        data["experiment"] = experiment
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(data))
        with pytest.raises(InvalidInputError, match=message):
            load_config(tmp_path / "c.yaml")
