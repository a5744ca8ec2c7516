"""radiomics.json: round trip, validation errors, z-scoring."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from pdacrad.errors import InvalidInputError, ResourceError
from pdacrad.model.radiomics_spec import VARIANTS, ModelInputs, Preprocessing, RadiomicsSpec, is_shape_feature

PARAMS = {"setting": {"binWidth": 25}, "imageType": {"Original": {}, "LoG": {"sigma": [2.0]}}}
MAP_PARAMS = {
    "setting": {"binWidth": 20},
    "voxelSetting": {"kernelRadius": 5},
    "pdacrad": {"intensityWindow": [-160, 240]},
}


def _spec(**changes: object) -> RadiomicsSpec:
    fields: dict[str, object] = {
        "params": PARAMS,
        "global_features": (
            "original_shape_Sphericity",
            "log-sigma-2-0-mm-3D_glcm_Idmn",
            "original_glszm_ZoneEntropy",
        ),
        "mean": (0.5, 0.9, 4.0),
        "std": (0.1, 0.05, 0.5),
        "map_features": ("log-sigma-2-0-mm-3D_glcm_Idmn", "original_glszm_ZoneEntropy"),
        "map_params": MAP_PARAMS,
    }
    fields.update(changes)
    return RadiomicsSpec(**fields)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field_and_the_spec_layout(tmp_path: Path) -> None:
    spec = _spec()
    spec.save(tmp_path / "radiomics.json")
    data = json.loads((tmp_path / "radiomics.json").read_text())
    assert set(data) == {
        "params",
        "global_features",
        "scaler",
        "map_features",
        "map_params",
        "inputs",
        "preprocessing",
    }
    assert data["scaler"] == {"mean": [0.5, 0.9, 4.0], "std": [0.1, 0.05, 0.5]}
    assert data["inputs"] == {"maps": True, "global_vector": True}
    assert data["preprocessing"] == {
        "roi_margins_mm_xyz": [100.0, 50.0, 15.0],
        "pancreas": "largest_component",
        "map_mask_dilation_mm": 5.0,
    }
    assert RadiomicsSpec.load(tmp_path / "radiomics.json") == spec


def test_files_without_inputs_or_preprocessing_get_what_their_lists_imply(tmp_path: Path) -> None:
    data = _spec().to_dict()
    del data["inputs"], data["preprocessing"]
    data["map_features"] = []
    spec = RadiomicsSpec.from_dict(data)
    assert (spec.inputs, spec.variant) == (ModelInputs(maps=False, global_vector=True), "global")
    assert spec.preprocessing == Preprocessing()


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_variant_round_trips_with_its_inputs_and_preprocessing(tmp_path: Path, variant: str) -> None:
    spec = dataclasses.replace(
        _spec().for_variant(variant),
        preprocessing=Preprocessing((80.0, 40.0, 10.0), map_mask_dilation_mm=3.0),
    )
    spec.save(tmp_path / "radiomics.json")
    loaded = RadiomicsSpec.load(tmp_path / "radiomics.json")
    assert loaded == spec and loaded.variant == variant
    assert loaded.preprocessing.roi_margins_mm_xyz == (80.0, 40.0, 10.0)


@pytest.mark.parametrize(
    ("data_changes", "message"),
    [
        ({"inputs": {"maps": True, "global_vector": False}, "map_features": []}, "map_features is empty"),
        (
            {"inputs": {"maps": False, "global_vector": True}, "global_features": []},
            "global_features is empty",
        ),
        ({"inputs": {"maps": "yes", "global_vector": False}}, "'inputs' must be"),
        ({"preprocessing": {"roi_margins_mm_xyz": [100, 50]}}, "roi_margins_mm_xyz"),
        ({"preprocessing": {"pancreas": "all_components"}}, "unknown rule"),
        ({"preprocessing": {"margins": [1, 2, 3]}}, "unknown key"),
    ],
)
def test_invalid_inputs_or_preprocessing_are_named(data_changes: dict, message: str) -> None:
    data = _spec().to_dict()
    if "global_features" in data_changes:
        data["scaler"] = {"mean": [], "std": []}
    data.update(data_changes)
    with pytest.raises(ResourceError, match=re.escape(message)):
        RadiomicsSpec.from_dict(data)


def test_unknown_variant_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="unknown Stage-2 variant"):
        _spec().for_variant("baseline")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mean": (0.5, 0.9)}, "must be equal in length"),
        ({"std": (0.1, 0.05, 0.5, 1.0)}, "must be equal in length"),
        ({"std": (0.1, 0.0, 0.5)}, "std > 0"),
        ({"mean": (0.5, float("nan"), 4.0)}, "finite"),
        ({"map_features": ("original_shape_Sphericity",)}, "shape features"),
        ({"global_features": ("original_glcm_Idmn", "original_glcm_Idmn", "x_y_z")}, "repeats"),
        (
            {"global_features": ("Idmn", "original_glcm_Idn", "original_glcm_Id")},
            "not PyRadiomics feature names",
        ),
    ],
)
def test_invalid_specs_are_resource_errors_naming_the_problem(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ResourceError, match=message):
        _spec(**changes)


def test_load_names_the_file_for_wrong_lengths_and_missing_keys(tmp_path: Path) -> None:
    data = _spec().to_dict()
    data["scaler"]["std"] = data["scaler"]["std"][:2]
    path = tmp_path / "radiomics.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ResourceError, match=re.escape(str(path)) + r".*2 stds for 3 global features"):
        RadiomicsSpec.load(path)
    del data["map_params"]
    path.write_text(json.dumps(data))
    with pytest.raises(ResourceError, match=r"missing key.*map_params"):
        RadiomicsSpec.load(path)
    path.write_text("{not json")
    with pytest.raises(ResourceError, match="not valid JSON"):
        RadiomicsSpec.load(path)
    with pytest.raises(ResourceError, match="not found"):
        RadiomicsSpec.load(tmp_path / "absent.json")


def test_zscore_uses_the_stored_scaler_in_vector_order() -> None:
    spec = _spec()
    features = {
        "original_glszm_ZoneEntropy": 5.0,
        "original_shape_Sphericity": 0.3,
        "log-sigma-2-0-mm-3D_glcm_Idmn": 0.9,
    }
    z = spec.zscore({**features, "original_firstorder_Mean": 99.0})
    np.testing.assert_allclose(z, [-2.0, 0.0, 2.0], rtol=1e-6)
    assert z.dtype == np.float32
    del features["original_glszm_ZoneEntropy"]
    with pytest.raises(InvalidInputError, match="original_glszm_ZoneEntropy"):
        spec.zscore(features)


def test_shape_feature_names() -> None:
    assert is_shape_feature("original_shape_Elongation")
    assert is_shape_feature("original_shape2D_Perimeter")
    assert not is_shape_feature("wavelet-LLH_glszm_SizeZoneNonUniformityNormalized")
    assert not is_shape_feature("original_firstorder_Mean")
