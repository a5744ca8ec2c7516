"""Shared checks for the matrix families (GLRLM, GLSZM, GLDM, NGTDM): our ``compute`` against live PyRadiomics
voxel mode on the same image/mask, and batch-split invariance."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from pdacrad.radiomics.backend import Backend
from pdacrad.radiomics.family import DiscretisedImage
from pdacrad.radiomics.filters import FilteredImage, iter_image_types, prepare
from pdacrad.radiomics.kernel import KernelBatch, gather_kernels, kernel_offsets, pad_volume
from pdacrad.radiomics.settings import settings_from_dict
from tests.radiomics.reference import pyradiomics_voxel_maps, real_ct_roi, reference_kernel_batch

FLOAT64_RTOL, FLOAT64_ATOL = 1e-9, 1e-12
FLOAT32_RTOL, FLOAT32_ATOL = 1e-4, 1e-6

#: Kernel shapes of the compiled-vs-torch identity tests, as ``(radius, force2D, force2D dimension)`` pytest params:
#: 3-D at r = 1, 2, 5 and flat kernels along each axis.
COMPILED_PATH_KERNELS = [
    pytest.param(1, False, 0, id="r1"),
    pytest.param(2, False, 0, id="r2"),
    pytest.param(5, False, 0, id="r5"),
    pytest.param(2, True, 0, id="r2-force2D-z"),
    pytest.param(3, True, 1, id="r3-force2D-y"),
    pytest.param(5, True, 2, id="r5-force2D-x"),
]


def compare_with_pyradiomics(
    module: ModuleType,
    family: str,
    image: sitk.Image,
    mask: sitk.Image,
    dtype: torch.dtype = torch.float64,
    **settings: Any,
) -> dict[str, np.ndarray]:
    """Run PyRadiomics (every feature of ``family``) and ``module.compute`` on the same kernels; assert equal
    NaN positions and values within the float64 / float32 tolerance. Returns the reference values per feature
    at the mask voxels (so callers can check the case is not degenerate)."""
    ref = pyradiomics_voxel_maps(image, mask, family, **settings)
    assert set(ref) == set(module.FEATURES), "registered features differ from PyRadiomics' feature class"
    batch, voxels = reference_kernel_batch(image, mask, dtype=dtype, **settings)
    ours = module.compute(batch, list(ref), settings)
    rtol, atol = (FLOAT64_RTOL, FLOAT64_ATOL) if dtype == torch.float64 else (FLOAT32_RTOL, FLOAT32_ATOL)
    expected_at_voxels = {}
    for name, volume in ref.items():
        expected = volume[tuple(voxels.T)]
        got = ours[name]
        assert got.shape == (len(voxels),) and got.dtype == dtype, name
        got_np = got.double().cpu().numpy()
        np.testing.assert_array_equal(
            np.isnan(got_np), np.isnan(expected), err_msg=f"{family} {name}: NaN pattern"
        )
        np.testing.assert_allclose(got_np, expected, rtol=rtol, atol=atol, err_msg=f"{family} {name}")
        expected_at_voxels[name] = expected
    return expected_at_voxels


def split_batch(batch: KernelBatch, parts: int) -> list[KernelBatch]:
    """``batch`` cut into ``parts`` consecutive voxel chunks of unequal size."""
    bounds = np.linspace(0, batch.n_voxels, parts + 1).astype(int)
    bounds[1] = max(1, bounds[1] // 3)  # make the chunks differ in size
    return [
        KernelBatch(
            levels=batch.levels[lo:hi],
            grey_levels=batch.grey_levels,
            offsets=batch.offsets,
            radius=batch.radius,
            values=None if batch.values is None else batch.values[lo:hi],
        )
        for lo, hi in itertools.pairwise(bounds)
    ]


def assert_batch_invariant(module: ModuleType, **settings: Any) -> None:
    """Whole voxel set vs 3 chunks of it: bit-identical values (a voxel never depends on its batch mates)."""
    image, mask = real_ct_roi()
    batch, _ = reference_kernel_batch(image, mask, **settings)
    names = list(module.FEATURES)
    whole = module.compute(batch, names, settings)
    chunks = [module.compute(part, names, settings) for part in split_batch(batch, 3)]
    for name in names:
        joined = torch.cat([c[name] for c in chunks])
        assert torch.equal(torch.nan_to_num(joined, nan=-7.0), torch.nan_to_num(whole[name], nan=-7.0)), name


def discretised_image(
    level_index: Any,
    roi: Any,
    radius: int,
    grey_levels: torch.Tensor | None = None,
    spacing_zyx: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> DiscretisedImage:
    """What the engine core hands a family's ``prepare``, from a level-index volume (array or tensor) and ROI;
    ``grey_levels`` default: the level indices themselves (PyRadiomics' bin numbers ``1..G``)."""
    levels = torch.as_tensor(level_index)
    if grey_levels is None:
        grey_levels = torch.arange(1, int(levels.max()) + 1, dtype=torch.float64)
    return DiscretisedImage(levels, torch.as_tensor(roi), grey_levels, radius, spacing_zyx)


def flat_image(image: sitk.Image, value: float = 40.0) -> sitk.Image:
    """``image``'s geometry filled with one intensity (every kernel has a single grey level)."""
    arr = np.full(sitk.GetArrayFromImage(image).shape, value, dtype=np.float64)
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(image)
    return out


def single_voxel_mask(mask: sitk.Image) -> sitk.Image:
    """A mask holding only the first voxel of ``mask`` (in ``np.where`` order)."""
    arr = sitk.GetArrayFromImage(mask)
    z, y, x = (int(v[0]) for v in np.where(arr > 0))
    one = np.zeros_like(arr)
    one[z, y, x] = 1
    out = sitk.GetImageFromArray(one)
    out.CopyInformation(mask)
    return out


TORCH_ON_CPU = Backend.choose("cpu", compiled=False)
"""The torch backend (the CUDA path's counting code) on CPU tensors: how the tests run that code without a GPU."""


@contextmanager
def spy(module: ModuleType, name: str) -> Iterator[list[tuple[Any, ...]]]:
    """Record the calls of ``module.name`` (still calling it) while the block runs: the list of their positional
    arguments. Tells which counting code a family actually ran."""
    original = getattr(module, name)
    calls: list[tuple[Any, ...]] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    setattr(module, name, wrapper)
    try:
        yield calls
    finally:
        setattr(module, name, original)


COMPILED_ONE_WORKER = Backend.choose("cpu", workers=1)


def random_volume_batch(
    seed: int, radius: int, force2d: bool, dimension: int, shape: tuple[int, int, int], n_levels: int
) -> KernelBatch:
    """Kernels of a sparse ROI on a random level volume with holes (level 0: outside the discretisation mask): ROI
    runs of random length along x, broken by gaps of 1-6 voxels, some touching the image border at x = 0 and
    x = X - 1, and isolated voxels; voxels in C order (z, y, x) as the engine core hands them over."""
    gen = np.random.default_rng(seed)
    volume = gen.integers(1, n_levels + 1, shape)
    volume[gen.random(shape) < 0.2] = 0
    roi = np.zeros(shape, dtype=bool)
    for z, y in itertools.product(range(shape[0]), range(shape[1])):
        x = int(gen.integers(0, 3))  # a run starting at the border in a third of the lines
        while x < shape[2]:
            length = int(gen.integers(1, 3 * radius + 4))
            roi[z, y, x : x + length] = True
            x += length + int(gen.integers(1, 7))
    roi[:, :, -1] |= gen.random(shape[:2]) < 0.5  # runs ending at the far border
    offsets = kernel_offsets(radius, force2d, dimension)
    voxels = torch.as_tensor(np.stack(np.nonzero(roi), axis=1))
    padded = pad_volume(torch.as_tensor(volume), radius, 0)
    levels = gather_kernels(padded, voxels, offsets, padded_by=radius)
    grey = torch.arange(1, n_levels + 1, dtype=torch.float64) * 2.0 - 7.0
    return KernelBatch(
        levels, grey, offsets, radius, voxels=voxels, backend=COMPILED_ONE_WORKER, volume=padded
    )


@contextmanager
def slides(module: ModuleType, name: str, at: int = 1) -> Iterator[list[int]]:
    """Record how many kernels each call of the compiled counting ``module.name`` slid: its return value, or item
    ``at`` of it when it returns a tuple."""
    original, slid = getattr(module, name), []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        slid.append(int(result[at] if isinstance(result, tuple) else result))
        return result

    setattr(module, name, wrapper)
    try:
        yield slid
    finally:
        setattr(module, name, original)


def original_image(image: sitk.Image, mask: sitk.Image, radius: int) -> FilteredImage:
    """The engine core's input for ``image``/``mask`` (label 1) as a map of the Original image: binWidth 25,
    kernelRadius ``radius``."""
    params = {
        "setting": {"binWidth": 25},
        "voxelSetting": {"kernelRadius": radius},
        "imageType": {"Original": {}},
    }
    return next(iter_image_types(prepare(image, mask, settings_from_dict(params)), {"Original": {}}))
