"""GLCM counting per backend: the compiled CPU counting and the torch counting (CUDA's code, run here on CPU
tensors) give the same integer entries bit for bit, and every formula run from either backend gives the same
values bit for bit (one formula source; MCC included), for random levels with masked cells, radii 1, 2, 5, force2D
kernels on each axis, one and many kernels per batch, symmetrical and asymmetrical, with and without weightingNorm.
Each test also asserts which counting code ran."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from pdacrad.radiomics import cooccurrence, glcm
from pdacrad.radiomics.backend import Backend
from pdacrad.radiomics.kernel import SPACING_KEY, KernelBatch, kernel_offsets
from tests.radiomics import family_checks as checks

COMPILED = Backend.choose("cpu", workers=1)
TORCH = checks.TORCH_ON_CPU
ALL = list(glcm.FEATURES)


def random_batch(
    generator: torch.Generator, n: int, offsets: torch.Tensor, n_levels: int, masked: float
) -> KernelBatch:
    """``n`` kernels of level indices ``1..n_levels`` (values 3, 6, 9, ...; only some levels used, so the ROI's
    ``G`` exceeds each kernel's ``L``), about a fraction ``masked`` of cells set to 0 (not in the kernel)."""
    k = offsets.shape[0]
    levels = torch.randint(1, n_levels + 1, (n, k), generator=generator)
    levels = torch.where(torch.rand((n, k), generator=generator) < masked, torch.zeros_like(levels), levels)
    grey = torch.arange(1, n_levels + 1, dtype=torch.float64) * 3.0 - 1.5
    radius = int(offsets.abs().max())
    return KernelBatch(levels=levels, grey_levels=grey, offsets=offsets, radius=radius)


# Many levels: sparse tables; two levels: dense ones, and near-independent blocks (Imc2's exact-0 branch);
# 85 % masked: kernels with few pairs, angles without any, kernels without any.
LEVEL_MIXES = [(40, 0.1), (2, 0.3), (6, 0.85)]


def _batches(radius: int, force2d: bool, dimension: int, n_voxels: int) -> list[KernelBatch]:
    offsets = kernel_offsets(radius, force2d, dimension)
    generator = torch.Generator().manual_seed(radius * 100 + n_voxels + dimension)
    return [random_batch(generator, n_voxels, offsets, g, masked) for g, masked in LEVEL_MIXES]


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.equal(a.nan_to_num(-7.0), b.nan_to_num(-7.0))


@pytest.mark.parametrize(("radius", "force2d", "dimension"), checks.COMPILED_PATH_KERNELS)
@pytest.mark.parametrize("n_voxels", [1, 40])
@pytest.mark.parametrize("distances", [[1], [1, 2]])
def test_compiled_counts_equal_the_torch_counts(
    radius: int, force2d: bool, dimension: int, n_voxels: int, distances: list[int]
) -> None:
    angles = glcm.glcm_angles(distances, force2d, dimension)
    for batch in _batches(radius, force2d, dimension, n_voxels):
        for symmetric in (True, False):
            want = cooccurrence.sparse_pair_counts(batch, angles, symmetric)
            got = cooccurrence.compiled_pair_counts(
                batch.levels, batch.offsets, angles, batch.n_levels, symmetric
            )
            assert len(want[0]) > 0 or batch.levels.count_nonzero() == 0
            for name, w, h in zip(("codes", "counts"), want, got, strict=True):
                assert h.dtype == torch.int64, name
                assert torch.equal(h, w), (name, symmetric)


@pytest.mark.parametrize(("radius", "force2d", "dimension"), checks.COMPILED_PATH_KERNELS)
@pytest.mark.parametrize("settings", [{}, {"symmetricalGLCM": False}, {"weightingNorm": "euclidean"}])
def test_both_backends_give_the_same_values_and_say_which_ran(
    radius: int, force2d: bool, dimension: int, settings: dict
) -> None:
    settings = {"force2D": force2d, "force2Ddimension": dimension, SPACING_KEY: (2.5, 0.8, 0.7), **settings}
    fused = settings.get("weightingNorm") is None
    for batch in _batches(radius, force2d, dimension, 40):
        with (
            checks.spy(glcm, "fused_features") as fused_calls,
            checks.spy(cooccurrence, "compiled_pair_counts") as compiled_counts,
            checks.spy(cooccurrence, "sparse_pair_counts") as torch_counts,
        ):
            compiled = glcm.compute(replace(batch, backend=COMPILED), ALL, settings)
            assert len(fused_calls) == int(fused) and len(compiled_counts) == 1 and torch_counts == []
            via_torch = glcm.compute(replace(batch, backend=TORCH), ALL, settings)
            assert len(fused_calls) == int(fused) and len(torch_counts) == 1 and len(compiled_counts) == 1
        for name in ALL:
            assert via_torch[name].shape == (40,) and via_torch[name].dtype == torch.float64
            assert _same(compiled[name], via_torch[name]), name
        assert torch.isfinite(compiled["Contrast"]).any()


def test_each_feature_alone_equals_it_among_all() -> None:
    batch = _batches(2, False, 0, 30)[0]
    every = glcm.compute(batch, ALL, {})
    for name in ALL:
        assert _same(glcm.compute(batch, [name], {})[name], every[name]), name


def test_flat_lone_and_one_angle_kernels() -> None:
    offsets = kernel_offsets(1, True, 0)
    flat = torch.ones(9, dtype=torch.int64)
    checker = torch.tensor([1, 2, 1, 2, 1, 2, 1, 2, 1])
    lone = torch.tensor([0, 0, 0, 0, 2, 0, 0, 0, 0])
    line = torch.tensor([0, 0, 0, 1, 2, 1, 0, 0, 0])  # pairs along x only
    levels = torch.stack([flat, checker, lone, line])
    grey = torch.tensor([10.0, 30.0], dtype=torch.float64)
    batch = KernelBatch(levels=levels, grey_levels=grey, offsets=offsets, radius=1)
    for backend in (COMPILED, TORCH):
        out = glcm.compute(replace(batch, backend=backend), ALL, {"force2D": True})
        # one level: σ = 0 (Correlation 1) and Imc 0
        assert out["Correlation"][0] == 1 and out["Imc2"][0] == 0 and out["Imc1"][0] == 0
        assert torch.isnan(torch.stack([v[2] for v in out.values()])).all()  # no pair in any angle
        # three angles without pairs: left out of the nanmean, but Joint Average (a plain mean) is NaN
        assert torch.isnan(out["JointAverage"][3]) and out["Contrast"][3] == 400
        # checkerboard: pairs along y and x are (10, 30) or (30, 10), along the diagonals one level
        assert out["Contrast"][1] == 200 and out["MaximumProbability"][1] == 0.5


def test_float32_batches_get_float32_maps() -> None:
    offsets = kernel_offsets(2)
    batch = random_batch(torch.Generator().manual_seed(4), 10, offsets, 8, 0.2)
    as32 = KernelBatch(batch.levels, batch.grey_levels.float(), offsets, 2)
    out32 = glcm.compute(as32, ["Correlation", "JointEntropy", "MCC"], {})
    out64 = glcm.compute(batch, ["Correlation", "JointEntropy", "MCC"], {})
    for name, value in out32.items():
        assert value.dtype == torch.float32
        torch.testing.assert_close(value, out64[name].float(), rtol=1e-5, atol=1e-6)
