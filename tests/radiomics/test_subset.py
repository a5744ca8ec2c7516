"""PyRadiomics params pruned to a feature list (``pdacrad.radiomics.subset``): the pruned params compute exactly
the full params' values of the listed features on a real CT (same PyRadiomics code path), enable only the image
types, LoG sigmas, classes and features the list needs, keep every setting, and refuse — naming it — a feature
the params do not compute."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import pytest
import SimpleITK as sitk
import yaml

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics import compute_features
from pdacrad.radiomics.settings import PARAMS_DIR
from pdacrad.radiomics.subset import params_for_features

DATA = Path(__file__).resolve().parents[1] / "data"
#: A selection mixing every kind of image type and class of ``paper_global.yaml``.
MIX = (
    "original_shape_Sphericity",
    "original_shape_VoxelVolume",
    "original_glcm_Idm",
    "original_ngtdm_Busyness",
    "log-sigma-4-0-mm-3D_firstorder_Mean",
    "log-sigma-2-0-mm-3D_glszm_ZoneEntropy",
    "wavelet-LLH_glrlm_RunEntropy",
    "wavelet-HHH_firstorder_Skewness",
    "wavelet-LLL_gldm_DependenceEntropy",
)


def paper_global() -> dict:
    return yaml.safe_load((PARAMS_DIR / "paper_global.yaml").read_text())


@pytest.fixture(scope="module")
def real_case() -> tuple[sitk.Image, sitk.Image]:
    """The real native abdomen CT (3 mm) and its pancreas mask (label 1)."""
    return (
        sitk.ReadImage(str(DATA / "ts_native_abdomen_ct.nii.gz")),
        sitk.ReadImage(str(DATA / "ts_native_abdomen_pancreas_mask.nii.gz")),
    )


@pytest.fixture(scope="module")
def full_paper(real_case) -> dict[str, float]:
    """Every feature of ``paper_global.yaml`` on the real case (~1,500)."""
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    return compute_features(*real_case, paper_global())


def test_pruned_paper_params_give_the_full_values_exactly(real_case, full_paper) -> None:
    pruned = compute_features(*real_case, params_for_features(paper_global(), MIX))
    assert len(full_paper) > 1400
    for name in MIX:
        assert pruned[name] == full_paper[name], name  # exact: the same PyRadiomics computation
    # only the selected classes on the selected images: 1 original + 2 LoG + 8 wavelet sub-bands
    assert len(pruned) < 100
    # shape alone: no image type, only PyRadiomics' shape pass on the original image
    shape = compute_features(*real_case, params_for_features(paper_global(), ["original_shape_Elongation"]))
    assert shape == {"original_shape_Elongation": full_paper["original_shape_Elongation"]}


def test_pruned_params_keep_settings_that_change_values(real_case) -> None:
    """Resampling, normalisation, bin width and the HU window survive pruning: equal to the full params' values,
    which differ from the default settings' values."""
    params = {
        "setting": {
            "binWidth": 10,
            "resampledPixelSpacing": [2.0, 2.0, 2.0],
            "interpolator": "sitkLinear",
            "normalize": True,
            "normalizeScale": 100,
        },
        "imageType": {"Original": {}, "LoG": {"sigma": [1.0, 3.0]}, "Wavelet": {"wavelet": "haar"}},
        "featureClass": {"shape": None, "firstorder": None, "glcm": None},
        "pdacrad": {"intensityWindow": [-160, 240]},
    }
    wanted = [
        "original_shape_Maximum3DDiameter",
        "log-sigma-3-0-mm-3D_glcm_Contrast",
        "wavelet-HLH_firstorder_Mean",
    ]
    full = compute_features(*real_case, params)
    pruned = compute_features(*real_case, params_for_features(params, wanted))
    plain = compute_features(
        *real_case, params_for_features({**params, "setting": {}, "pdacrad": {}}, wanted)
    )
    for name in wanted:
        assert pruned[name] == full[name], name
    assert all(plain[name] != full[name] for name in wanted[1:])  # the settings mattered


def test_every_feature_of_the_full_params_is_accepted(full_paper) -> None:
    """Pruned to every name the full extraction returns, the params enable what the full params enable."""
    params = paper_global()
    pruned = params_for_features(params, list(full_paper))
    assert pruned["setting"] == params["setting"]
    assert pruned["imageType"] == params["imageType"]
    assert set(pruned["featureClass"]) == set(params["featureClass"])
    n_names = sum(len(v) for v in pruned["featureClass"].values())
    assert n_names == 14 + 93  # shape + the features of the other classes, each on every image


def test_pruned_structure_and_the_input_untouched() -> None:
    params = paper_global()
    params["pdacrad"] = {"intensityWindow": [-160, 240]}
    before = copy.deepcopy(params)
    pruned = params_for_features(params, MIX)
    assert params == before
    assert pruned["setting"] == params["setting"] and pruned["pdacrad"] == params["pdacrad"]
    assert pruned["imageType"] == {"Original": {}, "LoG": {"sigma": [2.0, 4.0]}, "Wavelet": {}}
    assert pruned["featureClass"] == {
        "shape": ["Sphericity", "VoxelVolume"],
        "firstorder": ["Mean", "Skewness"],
        "glcm": ["Idm"],
        "glrlm": ["RunEntropy"],
        "glszm": ["ZoneEntropy"],
        "gldm": ["DependenceEntropy"],
        "ngtdm": ["Busyness"],
    }
    # shape alone needs no image type (PyRadiomics computes it on the original image in any case)
    assert params_for_features(params, ["original_shape_Elongation"])["imageType"] == {}


def test_settings_of_image_types_kept_and_sigmas_read_from_setting() -> None:
    params = {
        "setting": {"sigma": [1, 3], "binWidth": 25},
        "imageType": {"LoG": {}, "Wavelet": {"start_level": 1, "level": 2, "wavelet": "db2"}, "Square": {}},
        "featureClass": {"firstorder": ["Mean", "Energy"], "glcm": None},
    }
    pruned = params_for_features(params, ["log-sigma-3-mm-3D_firstorder_Mean", "wavelet2-LLL_glcm_Idm"])
    assert pruned["imageType"] == {
        "LoG": {"sigma": [3]},  # integers keep PyRadiomics' name `log-sigma-3-mm-3D`
        "Wavelet": {"start_level": 1, "level": 2, "wavelet": "db2"},
    }
    assert pruned["featureClass"] == {"firstorder": ["Mean"], "glcm": ["Idm"]}
    assert pruned["setting"] == params["setting"]


@pytest.mark.parametrize(
    ("feature", "message"),
    [
        (
            "log-sigma-8-0-mm-3D_firstorder_Mean",
            "no image type of the params .* yields image 'log-sigma-8-0-mm-3D'",
        ),
        ("wavelet2-LLH_firstorder_Mean", "yields image 'wavelet2-LLH'"),
        ("square_firstorder_Mean", "yields image 'square'"),
        ("original_glcm_Nope", "glcm has no feature 'Nope'"),
        ("original_glcm_Homogeneity1", "deprecated"),
        ("wavelet-LLH_shape_Elongation", "shape features exist only as original_shape"),
        ("original_texture_Mean", "no feature class 'texture'"),
        ("original_firstorder", "not a PyRadiomics name"),
    ],
)
def test_a_feature_the_params_do_not_compute_is_refused_by_name(feature: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as error:
        params_for_features(paper_global(), ["original_glcm_Idm", feature])
    assert repr(feature) in str(error.value) or "not a PyRadiomics name" in str(error.value)


def test_classes_and_lists_of_the_params_are_respected() -> None:
    params = {"imageType": {"Original": {}}, "featureClass": {"firstorder": ["Mean"], "glcm": []}}
    with pytest.raises(InvalidInputError, match=r"'original_glrlm_RunEntropy'.*class 'glrlm' is not enabled"):
        params_for_features(params, ["original_glrlm_RunEntropy"])
    with pytest.raises(InvalidInputError, match=r"Median is not in the params' firstorder list \['Mean'\]"):
        params_for_features(params, ["original_firstorder_Median"])
    assert params_for_features(params, ["original_glcm_Idm"])["featureClass"] == {"glcm": ["Idm"]}
    # no featureClass section: PyRadiomics enables every class
    assert params_for_features({}, ["original_gldm_DependenceEntropy"])["featureClass"] == {
        "gldm": ["DependenceEntropy"]
    }
    with pytest.raises(InvalidInputError, match="no features"):
        params_for_features(params, [])
