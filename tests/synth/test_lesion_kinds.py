"""Attenuation-only ("hypo") and "both" lesions, the other way round from the texture-only test: a hypo lesion
differs from the surrounding pancreas in mean HU but NOT in texture; a "both" lesion differs in both.

Texture = live PyRadiomics GLCM of the lesion's interior (eroded 2 voxels in-plane, away from the partial-volume
rim that any attenuation step has) after shifting the lesion back to the pancreas' mean HU (so that bin width 25
HU discretises both at the same grey-level alignment), compared with the same shape placed in lesion-free
pancreas of the lesion-free twin (same seed, same anatomy and noise)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from pdacrad.synth import generate_case

from .glcm_helpers import glcm_features, interior, patches, shell

SIZE = (128, 128, 40)
SEEDS = range(1, 9)
DIAMETER_MM = (10.0, 20.0)  # room for an interior and for lesion-free patches of its shape
FEATURE = (
    "Contrast"  # Σ (i − j)² p(i, j): local grey-level differences, the texture the lesions are built with
)
MIN_INTERIOR_VOXELS = 30


def _interior_texture_z(seed: int, kind: str, rng: np.random.Generator) -> tuple[float, float] | None:
    """(lesion − 5 mm pancreas shell mean HU, z-score of the interior's GLCM feature against lesion-free patches)
    or None when the lesion has no interior or its shape fits nowhere in the lesion-free pancreas."""
    image, labels, record = generate_case(
        "k", seed, True, kind, size_xyz=SIZE, lesion_diameter_mm=DIAMETER_MM
    )
    twin_image, twin_labels, _ = generate_case("k", seed, False, size_xyz=SIZE)
    assert record.lesion_kind == kind
    ct, lab = sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(labels)
    lesion = lab == 1
    core = interior(lesion)
    reference_masks = patches(sitk.GetArrayFromImage(twin_labels) == 4, core, rng) if core.sum() else []
    if core.sum() < MIN_INTERIOR_VOXELS or len(reference_masks) < 10:
        return None
    around = ct[shell(lab, lesion, image.GetSpacing(), 5.0)].astype(float)
    contrast = float(ct[lesion].mean() - around.mean())
    back = ct.copy()
    back[lesion] -= np.int16(np.rint(ct[core].mean() - around.mean()))
    shifted = sitk.GetImageFromArray(back)
    shifted.CopyInformation(image)
    reference = np.array([glcm_features(twin_image, m)[FEATURE] for m in reference_masks])
    z = (glcm_features(shifted, core)[FEATURE] - reference.mean()) / reference.std()
    return contrast, float(z)


@pytest.fixture(scope="module")
def measured() -> dict[str, list[tuple[int, float, float]]]:
    rng = np.random.default_rng(0)
    out: dict[str, list[tuple[int, float, float]]] = {"hypo": [], "both": []}
    for kind, rows in out.items():
        for seed in SEEDS:
            found = _interior_texture_z(seed, kind, rng)
            if found is not None:
                rows.append((seed, round(found[0], 1), round(found[1], 1)))
    return out


def test_attenuation_only_lesions_differ_in_mean_not_texture(measured: dict) -> None:
    """No systematic texture difference: the z-scores scatter around 0 (their mean within ±1.5) and none is
    far out (|z| < 4), against z > 5 for every "both" lesion below. (The hypo lesion's own faint texture, 6 HU at
    1.5 mm correlation, sits under 10–20 HU noise; 20 overlapping patches understate the reference spread, so
    single z-scores of ~3 occur without a texture difference.)"""
    rows = measured["hypo"]
    assert len(rows) >= 5, f"too few hypo lesions had an interior and room for patches: {rows}"
    for seed, contrast, z in rows:
        assert -75.0 < contrast < -15.0, f"seed {seed}: hypo lesion {contrast:+.1f} HU against the pancreas"
        assert abs(z) < 4.0, f"seed {seed}: interior {FEATURE} z = {z} against lesion-free patches ({rows})"
    mean_z = float(np.mean([z for _, _, z in rows]))
    assert abs(mean_z) < 1.5, f"hypo interiors' mean {FEATURE} z = {mean_z:+.2f} ({rows})"


def test_both_lesions_differ_in_mean_and_texture(measured: dict) -> None:
    rows = measured["both"]
    assert len(rows) >= 5, f"too few 'both' lesions had an interior and room for patches: {rows}"
    for seed, contrast, z in rows:
        assert -75.0 < contrast < -15.0, f"seed {seed}: 'both' lesion {contrast:+.1f} HU against the pancreas"
        assert z > 5.0, f"seed {seed}: interior {FEATURE} z = {z} against lesion-free patches ({rows})"


def test_both_shares_the_hypo_drop_range_and_texture_shares_the_parenchyma_mean() -> None:
    """The three kinds on one anatomy: hypo and both darker by the same 30–60 HU design range (measured on the
    final image, with blur and noise), texture-only within a few HU of the parenchyma."""
    for seed in (2, 4):
        means = {}
        for kind in ("hypo", "texture", "both"):
            image, labels, _ = generate_case(
                "m", seed, True, kind, size_xyz=SIZE, lesion_diameter_mm=DIAMETER_MM
            )
            ct, lab = sitk.GetArrayFromImage(image).astype(float), sitk.GetArrayFromImage(labels)
            lesion = lab == 1
            means[kind] = ct[lesion].mean() - ct[shell(lab, lesion, image.GetSpacing(), 5.0)].mean()
        assert abs(means["texture"]) <= 5.0, means
        assert means["hypo"] < -15.0 and means["both"] < -15.0, means
