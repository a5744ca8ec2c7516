"""Image preparation and image types follow PyRadiomics' extractor."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics.filters import clip_intensities, image_type_of, iter_image_types, prepare
from pdacrad.radiomics.settings import settings_from_dict
from tests.radiomics.reference import real_ct_roi


def test_image_types_are_named_like_pyradiomics_and_cropped_with_kernel_padding() -> None:
    image, mask = real_ct_roi()
    s = settings_from_dict(
        {
            "imageType": {"Original": {}, "LoG": {"sigma": [4.0]}, "Wavelet": {}},
            "voxelSetting": {"kernelRadius": 2},
        }
    )
    case = prepare(image, mask, s)
    out = {f.name: f for f in iter_image_types(case, dict(s.image_types))}
    assert "original" in out and "log-sigma-4-0-mm-3D" in out
    assert {n for n in out if n.startswith("wavelet-")} == {
        f"wavelet-{a}{b}{c}" for a in "LH" for b in "LH" for c in "LH"
    }
    roi = sitk.GetArrayFromImage(out["original"].mask) == 1
    zz, yy, xx = np.nonzero(roi)
    # bounding box padded by kernelRadius, clipped to the image
    for axis, coords in enumerate((zz, yy, xx)):
        assert coords.min() <= 2 and roi.shape[axis] - 1 - coords.max() <= 2
    assert roi.sum() == (sitk.GetArrayFromImage(mask) == 1).sum()


def test_clip_and_image_type_names() -> None:
    image, _ = real_ct_roi()
    clipped = sitk.GetArrayFromImage(clip_intensities(image, (-160, 240)))
    assert clipped.min() >= -160 and clipped.max() <= 240
    assert image_type_of("log-sigma-4-0-mm-3D") == "LoG"
    assert image_type_of("wavelet-HLH") == "Wavelet"
    assert image_type_of("lbp-2D") == "LBP2D"
    with pytest.raises(InvalidInputError):
        image_type_of("sobel")


def test_empty_mask_is_invalid_input() -> None:
    image, mask = real_ct_roi()
    empty = sitk.Image(mask.GetSize(), mask.GetPixelID())
    empty.CopyInformation(mask)
    with pytest.raises(InvalidInputError, match="label 1"):
        prepare(image, empty, settings_from_dict({}))
