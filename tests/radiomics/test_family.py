"""The feature-family contract (:mod:`pdacrad.radiomics.family`): every family implements it, a module that does
not is refused by name, and the engine core hands its state in one context, never in the user's settings."""

from __future__ import annotations

import types
from types import MappingProxyType

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from pdacrad.radiomics import firstorder, glcm, gldm, glrlm, glszm, maps, ngtdm
from pdacrad.radiomics.backend import Backend
from pdacrad.radiomics.family import (
    HOOKS,
    FamilyContext,
    check_family,
    checked_families,
)
from pdacrad.radiomics.filters import FilteredImage
from tests.radiomics import family_checks as checks
from tests.radiomics.reference import real_ct_roi, reference_kernel_batch

MODULES = [firstorder, glcm, glrlm, glszm, gldm, ngtdm]


def _copy_of(module: types.ModuleType, name: str = "fake_family") -> types.ModuleType:
    fake = types.ModuleType(name)
    for attr in ("FEATURES", "READS_VALUES", *HOOKS):
        setattr(fake, attr, getattr(module, attr))
    return fake


def test_every_voxel_wise_class_is_a_checked_family_module() -> None:
    assert maps.FAMILIES == ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
    for family, module in zip(maps.FAMILIES, MODULES, strict=True):
        assert maps.load_family(family) is module
        assert check_family(module) is module
    # only first-order reads raw intensities
    assert [m.READS_VALUES for m in MODULES] == [True, False, False, False, False, False]


@pytest.mark.parametrize("hook", HOOKS)
def test_a_family_missing_a_hook_is_refused_by_name(hook: str) -> None:
    fake = _copy_of(glszm)
    delattr(fake, hook)
    with pytest.raises(
        TypeError, match=rf"fake_family does not implement the feature family contract.*no {hook}\(\)"
    ):
        check_family(fake)
    with pytest.raises(TypeError, match="fake_family"):  # as the engine registers its families
        checked_families({"glszm": fake})  # type: ignore[dict-item]


def test_a_hook_of_another_shape_is_refused_with_both_signatures() -> None:
    fake = _copy_of(glrlm, "old_glrlm")

    def compute(batch, features, settings):  # type: ignore[no-untyped-def]  # before the context existed
        return {}

    fake.compute = compute
    fake.READS_VALUES = "no"
    with pytest.raises(TypeError) as info:
        check_family(fake)
    message = str(info.value)
    assert "compute(batch, features, settings) is not compute(batch, features, settings, context)" in message
    assert "READS_VALUES" in message and message.count("\n") == 0


def test_a_module_that_is_no_family_lists_everything_it_lacks() -> None:
    with pytest.raises(TypeError) as info:
        check_family(np)
    for missing in ("no prepare()", "no needs_kernels()", "no batch_cost()", "no compute()", "no FEATURES"):
        assert missing in str(info.value)


def test_the_context_carries_what_private_setting_keys_carried() -> None:
    # The weighted GLRLM needs the spacing: from the context, and a clear error without one (no 1 mm default).
    image, mask = real_ct_roi()
    batch, _ = reference_kernel_batch(image, mask, kernelRadius=1)
    settings = {"weightingNorm": "manhattan"}
    with pytest.raises(Exception, match="GLRLM weightingNorm needs the voxel spacing"):
        glrlm.compute(batch, ["RunPercentage"], settings)
    near = glrlm.compute(batch, ["RunPercentage"], settings, FamilyContext(spacing_zyx=(1.0, 1.0, 1.0)))
    far = glrlm.compute(batch, ["RunPercentage"], settings, FamilyContext(spacing_zyx=(5.0, 1.0, 1.0)))
    assert not torch.equal(near["RunPercentage"], far["RunPercentage"])
    with pytest.raises(Exception, match="GLCM weightingNorm needs the voxel spacing"):
        glcm.compute(batch, ["Contrast"], settings)


@pytest.mark.parametrize("family", ["firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"])
def test_the_engine_reads_the_settings_and_never_writes_them(family: str) -> None:
    # The settings reach every hook read-only; spacing (TotalEnergy, weighted GLCM/GLRLM) comes from the image.
    image, mask = real_ct_roi()
    image.SetSpacing((0.7, 0.8, 2.5))
    mask.SetSpacing(image.GetSpacing())
    filtered = checks.original_image(image, mask, 1)
    settings = {**filtered.settings, "weightingNorm": "euclidean"}
    frozen = FilteredImage(filtered.name, filtered.image, filtered.mask, MappingProxyType(settings))  # type: ignore[arg-type]
    names = list(maps.load_family(family).FEATURES)
    for backend in (Backend.choose("cpu", workers=1), checks.TORCH_ON_CPU):
        out = maps._family_maps(frozen, family, names, backend, torch.float64, 1, None)
        roi = sitk.GetArrayFromImage(filtered.mask) == 1
        assert set(out) == set(names) and all(np.isfinite(v[roi]).any() for v in out.values())
    assert dict(frozen.settings) == settings
