"""Each confounder, against the same seed without it (same anatomy, lesion and noise streams): it changes what it
says and nothing else."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from pdacrad.synth import CaseConfounders, generate_case

SIZE = (128, 128, 40)
SEEDS = (1, 2, 3)


def _case(seed: int, positive: bool = False, **flags: bool) -> tuple[np.ndarray, np.ndarray, object]:
    image, labels, record = generate_case("c", seed, positive, "hypo" if positive else None, size_xyz=SIZE,
                                          confounders=CaseConfounders(**flags))  # fmt: skip
    return sitk.GetArrayFromImage(image).astype(float), sitk.GetArrayFromImage(labels), record


@pytest.mark.parametrize("seed", SEEDS)
def test_dilated_duct_widens_the_duct_inside_the_pancreas_only(seed: int) -> None:
    ct0, lab0, rec0 = _case(seed)
    ct1, lab1, rec1 = _case(seed, dilated_duct=True)
    changed = lab0 != lab1
    assert changed.any()
    assert set(np.unique(lab0[changed])) == {4} and set(np.unique(lab1[changed])) == {5}, (
        "pancreas → duct only"
    )
    assert (lab1 == 5).sum() >= 2 * (lab0 == 5).sum()
    assert rec1.duct_diameter_mm >= max(5.0, rec0.duct_diameter_mm + 2.0) and rec0.duct_diameter_mm < 5.0
    assert rec1.label == 0 and (lab1 == 1).sum() == 0, "dilation without tumour"
    # The new duct voxels are fluid-dark in the image: well below the parenchyma they replaced.
    assert ct1[changed].mean() < ct0[changed].mean() - 40.0


@pytest.mark.parametrize("seed", SEEDS)
def test_dilated_cbd_reaches_into_the_pancreatic_head_and_spares_vessels(seed: int) -> None:
    _, lab0, rec0 = _case(seed)
    ct1, lab1, rec1 = _case(seed, dilated_cbd=True)
    changed = lab0 != lab1
    assert set(np.unique(lab1[changed])) == {6}
    assert not np.isin(lab0[changed], (2, 3)).any(), "vessels are never overwritten"
    assert (lab1 == 6).sum() >= 1.5 * (lab0 == 6).sum()
    assert (changed & (lab0 == 4)).sum() > 0, "it displaces pancreatic head"
    assert rec1.cbd_diameter_mm >= 11.0 > rec0.cbd_diameter_mm
    assert ct1[lab1 == 6].mean() < 30.0, "hypo-attenuating (fluid)"


def test_high_noise_raises_the_noise_by_the_recorded_amount() -> None:
    """Same white-noise field, scaled to the recorded SD: the twins' difference has SD = the SDs' difference."""
    ct0, lab0, rec0 = _case(4)
    ct1, lab1, rec1 = _case(4, high_noise=True)
    np.testing.assert_array_equal(lab0, lab1)
    assert 25.0 <= rec1.noise_sd_hu <= 40.0 and 10.0 <= rec0.noise_sd_hu <= 20.0
    soft = (ct0 > -200) & (ct0 < 300) & (ct1 > -200) & (ct1 < 300)  # away from clipping at -1024
    measured = float((ct1 - ct0)[soft].std())
    assert measured == pytest.approx(rec1.noise_sd_hu - rec0.noise_sd_hu, rel=0.1)


def test_thick_slices_change_only_the_slice_spacing() -> None:
    _, lab0, rec0 = _case(5)
    _, lab1, rec1 = _case(5, thick_slices=True)
    assert 4.0 <= rec1.slice_spacing_mm <= 5.0 and rec0.slice_spacing_mm <= 3.0
    assert rec1.inplane_spacing_mm == rec0.inplane_spacing_mm and rec1.noise_sd_hu == rec0.noise_sd_hu
    assert (lab1 == 4).any(axis=(1, 2)).sum() < (lab0 == 4).any(axis=(1, 2)).sum(), "fewer slices through it"
    assert (lab1 == 5).any(), "the duct is still labelled on thick slices"


def test_a_positive_keeps_its_lesion_under_confounders() -> None:
    _, lab0, rec0 = _case(6, positive=True)
    _, lab1, rec1 = _case(6, positive=True, dilated_duct=True, dilated_cbd=True, high_noise=True)
    assert rec0.lesion_kind == rec1.lesion_kind == "hypo"
    assert rec1.lesion_diameter_mm == rec0.lesion_diameter_mm > 0
    np.testing.assert_array_equal(lab0 == 1, lab1 == 1)
