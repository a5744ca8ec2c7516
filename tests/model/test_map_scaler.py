"""map_scaler: fixed per-feature normalisation of the map channels — fit, apply, radiomics.json round trip (an old
file without it keeps raw maps), the plans edit and nnU-Net's own normalisation look-up."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pdacrad.errors import InvalidInputError, ResourceError
from pdacrad.inference.radiomics_inputs import normalise_map_channels
from pdacrad.model.map_scaler import NO_NORMALIZATION, OUTSIDE_VALUE, MapScaler, with_fixed_map_normalisation
from pdacrad.model.radiomics_spec import RadiomicsSpec

MAPS = ("original_glcm_Idm", "original_glcm_ClusterProminence")


def _spec(scaler: MapScaler | None = None) -> RadiomicsSpec:
    return RadiomicsSpec(
        params={},
        global_features=("original_glcm_Idm",),
        mean=(0.5,),
        std=(0.1,),
        map_features=MAPS,
        map_params={"voxelSetting": {"kernelRadius": 1, "initValue": 0.0}},
        map_scaler=scaler,
    )


def test_fit_clips_heavy_tails_and_scales_the_clipped_values() -> None:
    rng = np.random.default_rng(0)
    idm = rng.normal(0.6, 0.1, 20_000)
    prominence = np.concatenate([rng.exponential(50.0, 19_950), np.full(50, 1e7)])  # a few wild kernels
    scaler = MapScaler.fit([idm, np.append(prominence, np.nan)])
    assert scaler.lower[0] == pytest.approx(np.percentile(idm, 0.5))
    assert scaler.upper[1] == pytest.approx(np.percentile(prominence, 99.5)) and scaler.upper[1] < 1e6
    clipped = np.clip(prominence, scaler.lower[1], scaler.upper[1])
    assert (scaler.mean[1], scaler.std[1]) == pytest.approx((clipped.mean(), clipped.std()))
    assert scaler.std[1] < 1000, "the 1e7 outliers would have set the scale without clipping"
    constant = MapScaler.fit([np.full(10, 3.0)])
    assert constant.std == (1.0,) and constant.mean == (3.0,)
    with pytest.raises(InvalidInputError, match="map feature 0: no finite"):
        MapScaler.fit([np.array([np.nan])])


def test_apply_depends_on_the_value_only_and_is_zero_outside_the_mask() -> None:
    scaler = MapScaler(lower=(0.0, -1.0), upper=(10.0, 1.0), mean=(4.0, 0.0), std=(2.0, 0.5))
    mask = np.zeros((2, 3, 4), np.uint8)
    mask[:, 1:, 1:] = 1
    a = np.full(mask.shape, 8.0)
    a[0, 1, 1], a[0, 2, 2], a[1, 2, 3] = 20.0, np.nan, -3.0
    b = np.full(mask.shape, 0.25)
    out = scaler.apply([a, b], mask)
    assert [o.dtype for o in out] == [np.float32, np.float32]
    inside = mask.astype(bool)
    assert np.all(out[0][~inside] == OUTSIDE_VALUE) and np.all(out[1][~inside] == OUTSIDE_VALUE)
    assert out[0][1, 1, 1] == 2.0 and out[0][0, 1, 1] == 3.0, "(8-4)/2; 20 clipped to 10"
    assert out[0][1, 2, 3] == -2.0 and out[0][0, 2, 2] == OUTSIDE_VALUE, "-3 clipped to 0; NaN → 0"
    assert np.all(out[1][inside] == 0.5)
    # The same map in a larger ROI (more initValue around it) gets the same in-mask values.
    big_mask, big_a = np.pad(mask, 5), np.pad(a, 5)
    np.testing.assert_array_equal(scaler.apply([big_a, np.pad(b, 5)], big_mask)[0][5:-5, 5:-5, 5:-5], out[0])
    with pytest.raises(InvalidInputError, match="2 feature"):
        scaler.apply([a], mask)
    with pytest.raises(InvalidInputError, match="shape"):
        scaler.apply([a, b[:1]], mask)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"lower": [0.0], "upper": [1.0], "mean": [0.0]}, "expected an object"),
        ({"lower": [0.0], "upper": [1.0], "mean": [0.0], "std": [0.0]}, "std > 0"),
        ({"lower": [2.0], "upper": [1.0], "mean": [0.0], "std": [1.0]}, "lower ≤ upper"),
        ({"lower": [0.0, 1.0], "upper": [1.0], "mean": [0.0], "std": [1.0]}, "one value per map feature"),
        ({"lower": ["a"], "upper": [1.0], "mean": [0.0], "std": [1.0]}, "numbers"),
    ],
)
def test_invalid_scalers_are_named(data: dict, message: str) -> None:
    with pytest.raises(ResourceError, match=message):
        MapScaler.from_dict(data, "radiomics.json: map_scaler")


def test_radiomics_json_round_trips_the_scaler_and_old_files_keep_raw_maps(tmp_path: Path) -> None:
    scaler = MapScaler((0.0, 0.0), (1.0, 100.0), (0.5, 20.0), (0.2, 30.0))
    _spec(scaler).save(tmp_path / "new.json")
    data = json.loads((tmp_path / "new.json").read_text())
    assert data["map_scaler"] == {
        "lower": [0.0, 0.0],
        "upper": [1.0, 100.0],
        "mean": [0.5, 20.0],
        "std": [0.2, 30.0],
    }
    loaded = RadiomicsSpec.load(tmp_path / "new.json")
    assert loaded == _spec(scaler) and loaded.for_variant("maps").map_scaler == scaler
    # An old radiomics.json (no map_scaler) writes no such key and feeds the maps unchanged.
    _spec().save(tmp_path / "old.json")
    assert "map_scaler" not in json.loads((tmp_path / "old.json").read_text())
    old = RadiomicsSpec.load(tmp_path / "old.json")
    assert old.map_scaler is None
    raw = [
        np.array([[[0.0, 7.5], [3.25, 0.0]]], np.float32),
        np.array([[[0.0, 1e4], [-2.0, 0.0]]], np.float32),
    ]
    mask = np.array([[[0, 1], [1, 0]]], np.uint8)
    for kept, original in zip(normalise_map_channels(raw, mask, old), raw, strict=True):
        np.testing.assert_array_equal(kept, original)
    scaled = normalise_map_channels(raw, mask, loaded)
    assert scaled[0][0, 0, 1] == pytest.approx((1.0 - 0.5) / 0.2) and scaled[1][0, 0, 0] == 0.0
    with pytest.raises(ResourceError, match="map_scaler has 1 feature"):
        _spec(MapScaler((0.0,), (1.0,), (0.5,), (0.2,)))


def test_shipped_resources_keep_raw_maps_and_pass_the_checks() -> None:
    """The shipped package (radiomics.json without map_scaler, plans that z-score the maps) loads, passes the
    model checks and gets its maps unchanged — today's behaviour."""
    from pdacrad.model.checks import check_against_model

    resources = Path(__file__).resolve().parents[2] / "resources"
    if not (resources / "radiomics.json").is_file():
        pytest.skip("no shipped resources/radiomics.json")
    spec = RadiomicsSpec.load(resources / "radiomics.json")
    assert spec.map_scaler is None and "map_scaler" not in spec.to_dict()
    dataset = json.loads((resources / "stage2" / "dataset.json").read_text())
    conf = json.loads((resources / "stage2" / "plans.json").read_text())["configurations"]["3d_fullres"]
    check_against_model(spec, dataset, conf, sorted((resources / "stage2").glob("fold_*")))
    maps = [np.arange(6, dtype=np.float32).reshape(1, 2, 3) * (i + 1) for i in range(len(spec.map_features))]
    for kept, original in zip(normalise_map_channels(maps, np.ones((1, 2, 3)), spec), maps, strict=True):
        np.testing.assert_array_equal(kept, original)


def test_plans_edit_makes_nnunet_leave_map_channels_as_they_are() -> None:
    """After the edit, nnU-Net's own preprocessor look-up (DefaultPreprocessor._normalize) finds NoNormalization
    for the map channels and CTNormalization for the CT: the maps pass through unchanged, the CT is scaled."""
    pytest.importorskip("nnunetv2")
    from nnunetv2.preprocessing.preprocessors.default_preprocessor import DefaultPreprocessor
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    conf = {
        "data_identifier": "x",
        "preprocessor_name": "DefaultPreprocessor",
        "normalization_schemes": ["CTNormalization", "ZScoreNormalization", "ZScoreNormalization"],
        "use_mask_for_norm": [False, True, False],
        "spacing": [1.0, 1.0, 1.0],
        "architecture": {"network_class_name": "x", "arch_kwargs": {}, "_kw_requires_import": []},
    }
    plans = {"plans_name": "p", "configurations": {"3d_fullres": conf}}
    fixed = with_fixed_map_normalisation(plans, 2)
    assert plans["configurations"]["3d_fullres"]["normalization_schemes"][1] == "ZScoreNormalization", (
        "a copy"
    )
    manager = PlansManager(fixed).get_configuration("3d_fullres")
    assert manager.normalization_schemes == ["CTNormalization", NO_NORMALIZATION, NO_NORMALIZATION]
    assert manager.use_mask_for_norm == [False, False, False]
    rng = np.random.default_rng(1)
    data = np.stack([rng.normal(40, 30, (4, 5, 6)), rng.normal(0, 1, (4, 5, 6)), rng.normal(3, 2, (4, 5, 6))])
    properties = {
        str(c): {"mean": 40.0, "std": 30.0, "percentile_00_5": -50.0, "percentile_99_5": 130.0}
        for c in range(3)
    }
    out = DefaultPreprocessor()._normalize(
        data.astype(np.float32).copy(), np.zeros((1, 4, 5, 6)), manager, properties
    )
    np.testing.assert_array_equal(out[1:], data[1:].astype(np.float32))
    np.testing.assert_allclose(out[0], (np.clip(data[0], -50, 130) - 40) / 30, rtol=1e-5, atol=1e-5)
    with pytest.raises(InvalidInputError, match="CT \\+ 3 maps"):
        with_fixed_map_normalisation(plans, 3)
