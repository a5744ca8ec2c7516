"""Lesion kinds: hypo-attenuating lesions are darker; texture-only lesions keep the pancreas' mean HU but
differ in a GLCM feature computed with live PyRadiomics, beyond the spread of lesion-free pancreas patches."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from pdacrad.synth import generate_case

from .glcm_helpers import glcm_features as _glcm
from .glcm_helpers import patches as _patches
from .glcm_helpers import shell as _shell

SIZE = (128, 128, 40)
SEEDS = range(1, 7)
FEATURE = "JointEntropy"


@pytest.fixture(scope="module")
def texture_cases() -> list[tuple[int, sitk.Image, sitk.Image, sitk.Image, sitk.Image]]:
    """(seed, image, labels, lesion-free twin image, twin labels): the twin shares the anatomy of the seed."""
    cases = []
    for seed in SEEDS:
        image, labels, record = generate_case("t", seed, True, "texture", size_xyz=SIZE)
        assert record.lesion_kind == "texture"
        twin_image, twin_labels, _ = generate_case("t", seed, False, size_xyz=SIZE)
        cases.append((seed, image, labels, twin_image, twin_labels))
    return cases


def test_texture_lesion_mean_matches_surrounding_pancreas(texture_cases: list) -> None:
    for seed, image, labels, _, _ in texture_cases:
        ct, lab = sitk.GetArrayFromImage(image).astype(float), sitk.GetArrayFromImage(labels)
        lesion = lab == 1
        for mm in (5.0, 10.0):
            shell = _shell(lab, lesion, image.GetSpacing(), mm)
            diff = ct[lesion].mean() - ct[shell].mean()
            assert abs(diff) <= 5.0, f"seed {seed}: lesion mean − pancreas ({mm} mm shell) = {diff:+.1f} HU"
        assert ct[lesion].std() > 1.5 * ct[_shell(lab, lesion, image.GetSpacing(), 5.0)].std(), (
            "texture differs"
        )


def test_texture_lesion_glcm_differs_from_pancreas_patches(texture_cases: list) -> None:
    rng = np.random.default_rng(0)
    tested = []
    for seed, image, labels, twin_image, twin_labels in texture_cases:
        lesion = sitk.GetArrayFromImage(labels) == 1
        patches = _patches(sitk.GetArrayFromImage(twin_labels) == 4, lesion, rng)
        if len(patches) < 10:
            continue  # lesion larger than any lesion-free stretch of this pancreas
        reference = np.array([_glcm(twin_image, p)[FEATURE] for p in patches])
        value = _glcm(image, lesion)[FEATURE]
        z = (value - reference.mean()) / reference.std()
        tested.append((seed, int(lesion.sum()), round(z, 1)))
        assert abs(z) > 3.0, (
            f"seed {seed}: {FEATURE} {value:.3f} vs patches {reference.mean():.3f} ± {reference.std():.3f}"
        )
    assert len(tested) >= 3, f"too few texture lesions had room for lesion-free patches: {tested}"


def test_hypo_lesion_is_darker_than_pancreas() -> None:
    for seed in (1, 2, 3):
        image, labels, record = generate_case("h", seed, True, "hypo", size_xyz=SIZE)
        ct, lab = sitk.GetArrayFromImage(image).astype(float), sitk.GetArrayFromImage(labels)
        lesion = lab == 1
        assert record.lesion_volume_voxels == int(lesion.sum()) > 0
        drop = ct[_shell(lab, lesion, image.GetSpacing(), 5.0)].mean() - ct[lesion].mean()
        assert 15.0 < drop < 75.0, f"seed {seed}: hypo lesion {drop:.1f} HU below the pancreas"


def test_positive_and_negative_twins_share_anatomy() -> None:
    _, pos, _ = generate_case("a", 11, True, "hypo", size_xyz=(64, 64, 32))
    _, neg, _ = generate_case("a", 11, False, size_xyz=(64, 64, 32))
    p, n = sitk.GetArrayFromImage(pos), sitk.GetArrayFromImage(neg)
    outside = p != 1
    assert (p == 1).any() and not (n == 1).any()
    np.testing.assert_array_equal(p[outside], n[outside])
    assert set(np.unique(n[~outside])) <= {0, 4, 5}, (
        "a lesion only replaces pancreas, duct or peripancreatic fat"
    )
