"""The map cache's reading of PyRadiomics feature names."""

from __future__ import annotations

import pytest
from pdacrad_train.map_cache import image_type_key


@pytest.mark.parametrize(
    ("feature", "key"),
    [
        ("original_glcm_Idmn", "Original"),
        ("log-sigma-1-0-mm-3D_glcm_Idmn", "LoG"),
        ("wavelet-HHL_glcm_Idmn", "Wavelet"),
        ("lbp-2D_glcm_Idmn", "LBP2D"),
        ("squareroot_glcm_Idmn", "SquareRoot"),
        ("square_glcm_Idmn", "Square"),
        ("logarithm_glcm_Idmn", "Logarithm"),
    ],
)
def test_image_type_key_of_feature_names(feature: str, key: str) -> None:
    types = {k: {} for k in ("Original", "LoG", "Wavelet", "LBP2D", "Square", "SquareRoot", "Logarithm")}
    assert image_type_key(feature, types) == key
