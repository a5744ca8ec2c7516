"""GLRLM voxel maps vs live PyRadiomics (pyradiomics-bhklab 3.1.4) on real CT."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics import glrlm
from pdacrad.radiomics.backend import Backend
from pdacrad.radiomics.counting import runs_cpu
from pdacrad.radiomics.counting.runs import VolumeRuns
from pdacrad.radiomics.family import FamilyContext
from tests.radiomics import family_checks as checks
from tests.radiomics.reference import (
    pyradiomics_voxel_maps,
    real_ct_roi,
    reference_kernel_batch,
    reference_levels,
)

# PyRadiomics itself warns "Mean of empty slice" for kernels whose every angle is empty (its NaN result is checked).
pytestmark = pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")


@pytest.mark.parametrize("radius", [1, 2])
def test_every_feature_matches_pyradiomics_float64(radius: int) -> None:
    image, mask = real_ct_roi()
    ref = checks.compare_with_pyradiomics(glrlm, "glrlm", image, mask, kernelRadius=radius)
    # A real texture: runs of several lengths, so the comparison is not of constants.
    assert np.nanstd(ref["LongRunEmphasis"]) > 0.1


def test_float32_within_1e4() -> None:
    image, mask = real_ct_roi()
    checks.compare_with_pyradiomics(glrlm, "glrlm", image, mask, dtype=torch.float32, kernelRadius=2)


def test_force2d_kernels_use_in_plane_angles_only() -> None:
    image, mask = real_ct_roi()
    for dim in (0, 2):
        checks.compare_with_pyradiomics(
            glrlm, "glrlm", image, mask, kernelRadius=2, force2D=True, force2Ddimension=dim
        )


def test_unmasked_kernel_and_coarser_bins() -> None:
    image, mask = real_ct_roi()
    checks.compare_with_pyradiomics(
        glrlm, "glrlm", image, mask, kernelRadius=1, maskedKernel=False, binWidth=10
    )


def test_flat_kernels() -> None:
    image, mask = real_ct_roi()
    ref = checks.compare_with_pyradiomics(glrlm, "glrlm", checks.flat_image(image), mask, kernelRadius=1)
    assert np.all(np.nan_to_num(ref["GrayLevelNonUniformityNormalized"], nan=1.0) == 1.0)


def test_single_voxel_mask_gives_nan_like_pyradiomics() -> None:
    # Every angle of a one-voxel kernel is "2D" in PyRadiomics' sense (no line with two voxels): all NaN.
    image, mask = real_ct_roi()
    ref = checks.compare_with_pyradiomics(
        glrlm, "glrlm", image, checks.single_voxel_mask(mask), kernelRadius=2
    )
    assert all(np.isnan(v).all() for v in ref.values())


@pytest.mark.parametrize("norm", ["no_weighting", "euclidean", "infinity", "manhattan"])
def test_weighting_norms(norm: str) -> None:
    image, mask = real_ct_roi()
    image.SetSpacing((0.8, 0.8, 2.5))  # anisotropic, so the norms differ
    mask.SetSpacing(image.GetSpacing())
    spacing_zyx = image.GetSpacing()[::-1]
    ref = pyradiomics_voxel_maps(image, mask, "glrlm", kernelRadius=1, weightingNorm=norm)
    batch, vox = reference_kernel_batch(image, mask, kernelRadius=1)
    ours = glrlm.compute(batch, list(ref), {"weightingNorm": norm}, FamilyContext(spacing_zyx=spacing_zyx))
    for name, vol in ref.items():
        np.testing.assert_allclose(ours[name].numpy(), vol[tuple(vox.T)], rtol=1e-9, atol=1e-12, err_msg=name)


def test_mm_weighting_without_spacing_is_a_clear_error() -> None:
    image, mask = real_ct_roi()
    batch, _ = reference_kernel_batch(image, mask, kernelRadius=1)
    with pytest.raises(InvalidInputError, match="spacing"):
        glrlm.compute(batch, ["RunPercentage"], {"weightingNorm": "euclidean"})


def test_batch_split_invariance() -> None:
    checks.assert_batch_invariant(glrlm, kernelRadius=2)


def test_unknown_feature_is_named() -> None:
    image, mask = real_ct_roi()
    batch, _ = reference_kernel_batch(image, mask, kernelRadius=1)
    with pytest.raises(InvalidInputError, match="NoSuchFeature"):
        glrlm.compute(batch, ["NoSuchFeature"], {})


def test_every_feature_has_a_formula_docstring() -> None:
    for name, fn in glrlm.FEATURES.items():
        assert fn.__doc__ and "=" in fn.__doc__, name


def test_run_length_only_features_skip_the_level_axis_with_identical_values() -> None:
    # LongRunEmphasis, ShortRunEmphasis (the paper's) & co. are counted without the grey-level axis: same numbers
    image, mask = real_ct_roi()
    batch, _ = reference_kernel_batch(image, mask, kernelRadius=2)
    lengths_only = sorted(glrlm.RUN_LENGTH_ONLY)
    fast = glrlm.compute(batch, lengths_only, {})
    full = glrlm.compute(batch, [*lengths_only, "GrayLevelNonUniformity"], {})
    for name in lengths_only:
        torch.testing.assert_close(fast[name], full[name], rtol=0, atol=0, equal_nan=True)


VOLUME_RUN_SETTINGS = [
    {"kernelRadius": 2},
    {"kernelRadius": 3, "binWidth": 10},
    {"kernelRadius": 2, "force2D": True, "force2Ddimension": 0},
    {"kernelRadius": 1, "maskedKernel": False},
]


TORCH = checks.TORCH_ON_CPU
COMPILED = Backend.choose("cpu")
spy = checks.spy


@pytest.mark.parametrize("settings", VOLUME_RUN_SETTINGS)
def test_volume_run_path_equals_the_line_path(settings: dict) -> None:
    # compute_maps on CUDA counts runs from volume-level run lengths (runs.py); the per-kernel line tracing,
    # checked against PyRadiomics in its time, must give the same numbers bit for bit
    image, mask = real_ct_roi()
    batch, _ = reference_kernel_batch(image, mask, **settings)
    batch = replace(batch, backend=TORCH)
    level_idx, _ = reference_levels(image, mask, **settings)
    roi = torch.as_tensor(sitk.GetArrayFromImage(mask) == 1)
    radius = settings["kernelRadius"]
    image_levels = checks.discretised_image(level_idx, roi, radius)
    fast = FamilyContext(prepared=glrlm.prepare(image_levels, list(glrlm.FEATURES), settings, TORCH))
    assert isinstance(fast.prepared, VolumeRuns)
    names = list(glrlm.FEATURES)
    lines, volume = glrlm.compute(batch, names, settings), glrlm.compute(batch, names, settings, fast)
    for name in names:
        torch.testing.assert_close(volume[name], lines[name], rtol=0, atol=0, equal_nan=True)
    lengths_only = sorted(glrlm.RUN_LENGTH_ONLY)
    for name, value in glrlm.compute(batch, lengths_only, settings, fast).items():
        torch.testing.assert_close(value, lines[name], rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("settings", [*VOLUME_RUN_SETTINGS, {"kernelRadius": 1, "weightingNorm": "infinity"}])
def test_compiled_cpu_counting_equals_the_torch_path(settings: dict) -> None:
    # CPU kernels are counted by runs_cpu (the parity tests above run it); the torch path stays CUDA's
    image, mask = real_ct_roi()
    context = FamilyContext(spacing_zyx=(2.5, 0.8, 0.8))
    batch, _ = reference_kernel_batch(image, mask, **settings)
    names = list(glrlm.FEATURES)
    nothing = checks.discretised_image(torch.ones((2, 2, 2), dtype=torch.int64), torch.ones(2, 2, 2), 1)
    assert glrlm.prepare(nothing, names, settings, COMPILED) is None
    compiled = glrlm.compute(batch, names, settings, context)
    with spy(runs_cpu, "run_counts") as calls:
        torch_path = glrlm.compute(replace(batch, backend=TORCH), names, settings, context)
    assert calls == []  # the torch backend ran, not the compiled one
    with spy(runs_cpu, "run_counts") as calls:
        glrlm.compute(batch, names, settings, context)
    assert calls  # the compiled backend is the CPU default
    for name in names:
        torch.testing.assert_close(compiled[name], torch_path[name], rtol=0, atol=0, equal_nan=True)
