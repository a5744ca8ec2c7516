"""stage2 and the map datasets: a map variant's radiomics.json carries the map_scaler its dataset was normalised
with (a dataset made for another selection is refused), and the dataset's plans leave the scaled map channels to
nnU-Net as they are (NoNormalization), the CT keeping its CT normalisation."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from pdacrad_train.config import load_config
from pdacrad_train.map_scaling import MAPS_MANIFEST
from pdacrad_train.steps import stage2
from pdacrad_train.variants import maps_dataset
from pdacrad_train.workspace import workspace

from pdacrad.errors import InvalidInputError
from pdacrad.model.map_scaler import MapScaler
from pdacrad.model.radiomics_spec import RadiomicsSpec

CONFIGS = Path(__file__).resolve().parents[3] / "training" / "configs"
MAPS = ("original_firstorder_Mean", "original_glcm_Idm")


def _selection() -> RadiomicsSpec:
    return RadiomicsSpec(
        params={},
        global_features=("original_firstorder_Mean",),
        mean=(40.0,),
        std=(10.0,),
        map_features=MAPS,
        map_params={"voxelSetting": {"kernelRadius": 1}},
    )


@pytest.fixture
def ws_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.setenv(name, str(tmp_path / "work" / name))
    config = load_config(CONFIGS / "synthetic-demo.yaml", tmp_path / "work")
    ws = workspace(config)
    _selection().save(ws.selection_dir(0) / "radiomics.json")
    return config, ws


def test_map_variants_ship_the_datasets_scaler_and_refuse_a_stale_dataset(ws_config) -> None:
    config, ws = ws_config
    raw = ws.raw_dataset(maps_dataset(config, "per-fold", 0))
    with pytest.raises(InvalidInputError, match="pdacrad-train maps"):
        stage2.variant_spec(config, ws, "both", 0, "per-fold")
    scaler = MapScaler((0.0, 0.0), (200.0, 1.0), (40.0, 0.5), (30.0, 0.1))
    made = dataclasses.replace(_selection(), map_scaler=scaler)
    raw.mkdir(parents=True)
    (raw / MAPS_MANIFEST).write_text(json.dumps({"radiomics": made.to_dict()}))
    for variant in ("maps", "both"):
        spec = stage2.variant_spec(config, ws, variant, 0, "per-fold")
        assert spec.map_scaler == scaler and spec.variant == variant
    assert stage2.variant_spec(config, ws, "global", 0, "per-fold").map_scaler is None  # takes no maps
    # select ran again and chose other maps: the dataset no longer matches
    dataclasses.replace(_selection(), map_features=MAPS[::-1]).save(ws.selection_dir(0) / "radiomics.json")
    with pytest.raises(InvalidInputError, match="not made for the current selection"):
        stage2.variant_spec(config, ws, "maps", 0, "per-fold")


def test_plans_of_a_scaled_map_dataset_say_no_normalisation_for_the_maps(ws_config) -> None:
    config, ws = ws_config
    stage = maps_dataset(config, "per-fold", 0)
    plans_file = ws.preprocessed_dataset(stage) / f"{stage.plans_name}.json"
    plans_file.parent.mkdir(parents=True)
    conf = {
        "normalization_schemes": ["CTNormalization", "ZScoreNormalization", "ZScoreNormalization"],
        "use_mask_for_norm": [False, False, False],
    }
    plans_file.write_text(json.dumps({"configurations": {"3d_fullres": conf}}))
    stage2.fix_map_normalisation(ws, stage, _selection())  # raw maps (no scaler): plans as nnU-Net made them
    assert json.loads(plans_file.read_text())["configurations"]["3d_fullres"] == conf
    scaled = dataclasses.replace(_selection(), map_scaler=MapScaler((0, 0), (1, 1), (0, 0), (1, 1)))
    stage2.fix_map_normalisation(ws, stage, scaled)
    fixed = json.loads(plans_file.read_text())["configurations"]["3d_fullres"]
    assert fixed["normalization_schemes"] == ["CTNormalization", "NoNormalization", "NoNormalization"]
    before = plans_file.stat().st_mtime_ns
    stage2.fix_map_normalisation(ws, stage, scaled)
    assert plans_file.stat().st_mtime_ns == before, "already fixed: not rewritten"
