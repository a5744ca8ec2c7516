"""Params YAML → RadiomicsSettings: defaults, the shipped files, validation errors."""

from __future__ import annotations

import pytest
from radiomics import featureextractor

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics.settings import PARAMS_DIR, load_settings, settings_from_dict


def test_defaults_follow_pyradiomics() -> None:
    s = load_settings(None)
    assert s.image_types == {"Original": {}}
    assert s.setting["binWidth"] == 25.0
    assert s.kernel_radius == 1
    assert s.voxel_setting["maskedKernel"] is True
    assert s.intensity_window is None


def test_paper_maps_file_means_what_it_says() -> None:
    s = load_settings(PARAMS_DIR / "paper_maps.yaml")
    assert s.kernel_radius == 5
    assert s.setting["binWidth"] == 20
    assert list(s.setting["resampledPixelSpacing"]) == [1.0, 1.0, 2.5]
    assert s.intensity_window == (-160.0, 240.0)
    # the paper's eight map features (Deng et al.), in PyRadiomics' own naming
    assert list(s.maps) == [
        "log-sigma-4-0-mm-3D_glcm_Correlation",
        "wavelet-LLH_glszm_SizeZoneNonUniformityNormalized",
        "wavelet-HLL_ngtdm_Strength",
        "wavelet-HHL_glcm_Correlation",
        "wavelet-LLL_glcm_Imc1",
        "wavelet-LLL_glcm_Imc2",
        "lbp-2D_glrlm_LongRunEmphasis",
        "lbp-2D_glrlm_ShortRunEmphasis",
    ]
    # every family of the map list is enabled, so PyRadiomics' extractor computes them with these params
    assert {name.split("_")[1] for name in s.maps} <= set(s.feature_classes)
    assert set(s.image_types) == {"Original", "LoG", "Wavelet", "LBP2D"}


@pytest.mark.parametrize("name", ["paper_maps.yaml", "paper_global.yaml"])
def test_as_pyradiomics_is_accepted_by_pyradiomics(name: str) -> None:
    s = load_settings(PARAMS_DIR / name)
    extractor = featureextractor.RadiomicsFeatureExtractor(s.as_pyradiomics())
    assert extractor.settings["binWidth"] == s.setting["binWidth"]
    assert set(extractor.enabledImagetypes) == set(s.image_types)


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"setting": {"binWidth": -1}}, "binWidth"),
        ({"setting": {"noSuchKey": 1}}, "noSuchKey"),
        ({"settings": {}}, "unknown section"),
        ({"pdacrad": {"intensityWindow": [5, 1]}}, "intensityWindow"),
        ({"pdacrad": {"colour": 1}}, "colour"),
    ],
)
def test_invalid_params_raise_one_clear_error(params: dict, needle: str) -> None:
    with pytest.raises(InvalidInputError, match=needle):
        settings_from_dict(params, where="test.yaml")


def test_missing_file_and_bad_yaml(tmp_path) -> None:
    with pytest.raises(InvalidInputError, match="not found"):
        load_settings(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("setting: [unclosed")
    with pytest.raises(InvalidInputError, match="not valid YAML"):
        load_settings(bad)
