"""The global vector at inference computes only what its feature list needs (the params pruned by
``params_for_features``) and equals the vector of the whole params file; features already computed (the training
tree's cache) are used instead of computing them."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

import pdacrad.radiomics
from pdacrad.errors import InvalidInputError
from pdacrad.inference.radiomics_inputs import compute_global_features, compute_global_vector
from pdacrad.model.radiomics_spec import RadiomicsSpec
from pdacrad.radiomics import compute_features
from pdacrad.radiomics.settings import PARAMS_DIR

DATA = Path(__file__).resolve().parents[1] / "data"
SELECTED = (
    "wavelet-LLH_glszm_SmallAreaEmphasis",
    "original_shape_Sphericity",
    "log-sigma-3-0-mm-3D_firstorder_Median",
    "original_glcm_Correlation",
    "log-sigma-5-0-mm-3D_glrlm_RunEntropy",
)


def paper_spec(features: tuple[str, ...] = SELECTED) -> RadiomicsSpec:
    params = yaml.safe_load((PARAMS_DIR / "paper_global.yaml").read_text())
    n = len(features)
    return RadiomicsSpec(params, features, mean=tuple(range(n)), std=tuple(1.0 + i for i in range(n)))


@pytest.fixture(scope="module")
def case() -> tuple[sitk.Image, sitk.Image]:
    """The real CT and its pancreas (uint8 0/1), as ``radiomics_pancreas`` gives it."""
    ct = sitk.ReadImage(str(DATA / "ts_native_abdomen_ct.nii.gz"))
    mask = sitk.ReadImage(str(DATA / "ts_native_abdomen_pancreas_mask.nii.gz"))
    return ct, sitk.Cast(mask != 0, sitk.sitkUInt8)


@pytest.fixture(scope="module")
def full(case) -> dict[str, float]:
    """The whole ``paper_global.yaml`` on the case, as inference computed it before pruning."""
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    return compute_features(*case, paper_spec().params)


def test_the_vector_of_the_pruned_params_equals_the_whole_params_files(case, full, monkeypatch) -> None:
    spec = paper_spec()
    seen = []
    real = pdacrad.radiomics.compute_features

    def spy(image, mask, params, label=1):
        seen.append(params)
        return real(image, mask, params, label=label)

    monkeypatch.setattr(pdacrad.radiomics, "compute_features", spy)
    vector = compute_global_vector(*case, spec)
    np.testing.assert_array_equal(vector, spec.zscore(full))
    assert compute_global_features(*case, spec) == {name: full[name] for name in SELECTED}
    (params, _) = seen
    assert params["imageType"] == {"Original": {}, "LoG": {"sigma": [3.0, 5.0]}, "Wavelet": {}}
    assert set(params["featureClass"]) == {"shape", "firstorder", "glcm", "glrlm", "glszm"}
    assert params["setting"] == spec.params["setting"]


def test_features_given_are_used_instead_of_computed(case, full, monkeypatch, caplog) -> None:
    spec = paper_spec()

    def fail(*args, **kwargs):
        raise AssertionError("computed although given")

    monkeypatch.setattr(pdacrad.radiomics, "compute_features", fail)
    cached = {k: v for k, v in full.items() if k in SELECTED or k.startswith("original_firstorder")}
    np.testing.assert_array_equal(compute_global_vector(*case, spec, cached), spec.zscore(full))
    # a cache stores a non-finite feature as None: the training mean (0) and a warning, as for a computed NaN
    with caplog.at_level(logging.WARNING, logger="pdacrad.inference"):
        vector = compute_global_vector(*case, spec, {**cached, SELECTED[2]: None})
    assert vector[2] == 0.0 and np.array_equal(np.delete(vector, 2), np.delete(spec.zscore(full), 2))
    assert "not finite" in caplog.text and SELECTED[2] in caplog.text


def test_a_feature_the_params_do_not_compute_is_refused_by_name(case) -> None:
    spec = paper_spec((*SELECTED[:2], "log-sigma-9-0-mm-3D_firstorder_Mean"))
    with pytest.raises(InvalidInputError, match="'log-sigma-9-0-mm-3D_firstorder_Mean'"):
        compute_global_vector(*case, spec)
