"""The CT-in-HU plausibility check: a real CT passes; values around 3,000 (no air, no soft tissue) and an
MR-like 0..1 volume do not, each failed criterion named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from pdacrad.preprocessing.intensity import check_ct_intensities

DATA = Path(__file__).resolve().parents[1] / "data"


def _image(array: np.ndarray) -> sitk.Image:
    return sitk.GetImageFromArray(array.astype(np.float32))


def test_a_real_abdominal_ct_looks_like_hu():
    check = check_ct_intensities(sitk.ReadImage(str(DATA / "ts_native_abdomen_ct.nii.gz")))
    assert check.looks_like_hu and check.problems == ()
    assert check.air_fraction > 0.05 and check.soft_tissue_fraction > 0.2
    assert check.percentiles_hu[0] < -500 < 0 < check.percentiles_hu[2]


def test_values_around_3000_are_not_hu_and_every_reason_is_named():
    rng = np.random.default_rng(0)
    check = check_ct_intensities(_image(rng.normal(3000, 40, (20, 40, 40))))
    assert not check.looks_like_hu
    text = " ".join(check.problems)
    assert "≤ −500" in text and "[−150, 250]" in text and "> 3000" in text
    assert check.to_dict()["looks_like_ct_in_hu"] is False


def test_a_unit_range_volume_is_not_hu_but_padding_counts_as_air():
    rng = np.random.default_rng(1)
    check = check_ct_intensities(_image(rng.uniform(0, 1, (20, 40, 40))))
    assert not check.looks_like_hu and len(check.problems) == 1 and "≤ −500" in check.problems[0]
    body = rng.normal(40, 30, (20, 40, 40))
    body[:, :, :6] = -3024  # outside the field of view
    assert check_ct_intensities(_image(body)).looks_like_hu


def _resampled(image: sitk.Image, spacing: tuple[float, float, float]) -> sitk.Image:
    size = [round(n * s / t) for n, s, t in zip(image.GetSize(), image.GetSpacing(), spacing, strict=True)]
    return sitk.Resample(
        image,
        size,
        sitk.Transform(),
        sitk.sitkLinear,
        image.GetOrigin(),
        spacing,
        image.GetDirection(),
        -1024.0,
        image.GetPixelID(),
    )


def test_unusual_but_plausible_ct_is_in_hu():
    """Thick slices, low dose and a field of view cropped inside the body stay CT in HU (they run, at most
    warned about); real CT of the chest too."""
    ct = sitk.ReadImage(str(DATA / "ts_native_abdomen_ct.nii.gz"))
    array = sitk.GetArrayFromImage(ct).astype(np.float32)
    low_dose = _image(array + np.random.default_rng(2).normal(0, 80, array.shape))
    _, y, x = array.shape
    partial_fov = _image(array[:, y * 5 // 12 : y * 7 // 12, x * 5 // 12 : x * 7 // 12])  # a sixth of y and x
    thick = _resampled(ct, (3.0, 3.0, 7.5))
    for name, image in {
        "thick slices": thick,
        "low dose": low_dose,
        "partial field of view": partial_fov,
    }.items():
        check = check_ct_intensities(image)
        assert check.in_hu and check.fat_or_air_fraction > 0.1, name
    assert not check_ct_intensities(partial_fov).looks_like_hu  # too little air: warned about, not refused


def test_a_brain_mr_and_a_ct_with_an_offset_are_not_hu():
    mr = check_ct_intensities(sitk.ReadImage(str(DATA / "pyradiomics_brain1_mr.mha")))
    offset = check_ct_intensities(sitk.ReadImage(str(DATA / "ts_native_abdomen_ct.nii.gz")) + 1024)
    for check in (mr, offset):
        assert not check.in_hu and check.fat_or_air_fraction < 0.01
        assert "≤ −50 (fat or air in HU" in check.not_hu_reason
        assert check.to_dict()["in_hu"] is False
