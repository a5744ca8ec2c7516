"""The compiled CPU GLCM (``_glcm_cpu``) against the torch paths it replaces on the CPU: the same integer counts,
bit for bit (sparse entries and dense matrices), and the sparse-path features to rounding (the compiled sums run in
another order than torch's vectorised reductions, so floats agree to ~1e-15 relative, not bit for bit), for random
levels with masked cells, radii 1, 2, 5, force2D kernels on each axis, one and many kernels per batch."""

from __future__ import annotations

import pytest
import torch

from pdacrad.radiomics import _glcm_cpu, cooccurrence, glcm, glcm_sparse
from pdacrad.radiomics.kernel import KernelBatch, kernel_offsets
from tests.radiomics import family_checks as checks


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


KERNELS = checks.COMPILED_PATH_KERNELS
# Many levels: sparse tables; two levels: dense ones, and near-independent blocks (Imc2's exact-0 branch);
# 85 % masked: kernels with few pairs, angles without any, kernels without any.
LEVEL_MIXES = [(40, 0.1), (2, 0.3), (6, 0.85)]


def _batches(radius: int, force2d: bool, dimension: int, n_voxels: int) -> list[KernelBatch]:
    offsets = kernel_offsets(radius, force2d, dimension)
    generator = torch.Generator().manual_seed(radius * 100 + n_voxels + dimension)
    return [random_batch(generator, n_voxels, offsets, g, masked) for g, masked in LEVEL_MIXES]


@pytest.mark.parametrize(("radius", "force2d", "dimension"), KERNELS)
@pytest.mark.parametrize("n_voxels", [1, 40])
@pytest.mark.parametrize("distances", [[1], [1, 2]])
def test_counts_equal_the_torch_path(
    radius: int, force2d: bool, dimension: int, n_voxels: int, distances: list[int]
) -> None:
    angles = glcm.glcm_angles(distances, force2d, dimension)
    for batch in _batches(radius, force2d, dimension, n_voxels):
        for symmetric in (True, False):
            want = cooccurrence.sparse_pair_counts(batch, angles, symmetric)
            got = _glcm_cpu.sparse_pair_counts(batch.levels, batch.offsets, angles, batch.n_levels, symmetric)
            for name, w, h in zip(("codes", "counts"), want, got, strict=True):
                assert h.dtype == torch.int64, name
                assert torch.equal(h, w), (name, symmetric)
        dense = _glcm_cpu.pair_counts(batch.levels, batch.offsets, angles, batch.n_levels)
        assert not dense.is_floating_point()
        # counts are small integers: exact in float64, so equal floats are equal integers
        assert torch.equal(dense.to(torch.float64), cooccurrence.pair_counts(batch, angles))


DENSE_ONLY = [name for name in _glcm_cpu.FEATURES if name not in _glcm_cpu.SPARSE_FEATURES]


@pytest.mark.parametrize(("radius", "force2d", "dimension"), KERNELS)
@pytest.mark.parametrize("n_voxels", [1, 40])
def test_features_equal_the_torch_paths(radius: int, force2d: bool, dimension: int, n_voxels: int) -> None:
    angles = glcm.glcm_angles([1], force2d, dimension)
    for batch in _batches(radius, force2d, dimension, n_voxels):
        got = _glcm_cpu.features(batch.levels, batch.offsets, angles, batch.grey_levels, _glcm_cpu.FEATURES)
        sparse = glcm_sparse.SparseGLCM(batch, angles, symmetric=True)
        dense = glcm.coefficients(batch, {"force2D": force2d, "force2Ddimension": dimension})
        for name in _glcm_cpu.FEATURES:
            # Correlation, Imc1/2, JointEntropy: the exact formulas of the sparse torch path (the dense one sums
            # HXY2 over G² terms, a different rounding of Imc2 near independence)
            want = (
                glcm_sparse.FEATURES[name](sparse)
                if name in glcm_sparse.FEATURES
                else glcm.FEATURES[name](dense)
            )
            assert got[name].dtype == torch.float64 and got[name].shape == want.shape
            # atol: features that cancel (Correlation, Cluster Shade) sit near 0, where rounding is absolute
            scale = float(torch.nan_to_num(want, nan=0.0).abs().max())
            torch.testing.assert_close(
                got[name], want, rtol=1e-12, atol=1e-13 * max(scale, 1.0), equal_nan=True, msg=name
            )
        only_sparse = _glcm_cpu.features(batch.levels, batch.offsets, angles, batch.grey_levels, ["Imc2"])
        assert torch.equal(only_sparse["Imc2"].nan_to_num(-1.0), got["Imc2"].nan_to_num(-1.0))


def test_flat_lone_and_one_angle_kernels() -> None:
    offsets = kernel_offsets(1, True, 0)
    flat = torch.ones(9, dtype=torch.int64)
    checker = torch.tensor([1, 2, 1, 2, 1, 2, 1, 2, 1])
    lone = torch.tensor([0, 0, 0, 0, 2, 0, 0, 0, 0])
    line = torch.tensor([0, 0, 0, 1, 2, 1, 0, 0, 0])  # pairs along x only
    levels = torch.stack([flat, checker, lone, line])
    grey = torch.tensor([10.0, 30.0], dtype=torch.float64)
    angles = glcm.glcm_angles([1], True, 0)
    out = _glcm_cpu.features(levels, offsets, angles, grey, _glcm_cpu.FEATURES)
    # one level: σ = 0 (Correlation 1) and every entropy 0
    assert out["Correlation"][0] == 1 and out["Imc2"][0] == 0 and out["Imc1"][0] == 0
    assert torch.isnan(torch.stack([v[2] for v in out.values()])).all()  # no pair in any angle
    # three angles without pairs: left out of the nanmean, but Joint Average (a plain mean) is NaN
    assert torch.isnan(out["JointAverage"][3]) and out["Contrast"][3] == 400
    batch = KernelBatch(levels=levels, grey_levels=grey, offsets=offsets, radius=1)
    sparse = glcm_sparse.SparseGLCM(batch, angles, symmetric=True)
    dense = glcm.coefficients(batch, {"force2D": True})
    for name, value in out.items():
        want = (
            glcm_sparse.FEATURES[name](sparse) if name in glcm_sparse.FEATURES else glcm.FEATURES[name](dense)
        )
        torch.testing.assert_close(value, want, equal_nan=True, msg=name)


def test_cpu_batches_take_the_compiled_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    offsets = kernel_offsets(1)
    batch = random_batch(torch.Generator().manual_seed(3), 20, offsets, 5, 0.2)

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a torch counting path ran on a CPU batch")

    monkeypatch.setattr(glcm_sparse, "SparseGLCM", refuse)
    monkeypatch.setattr(glcm, "pair_counts", refuse)
    out = glcm.compute(
        batch, ["Correlation", "Contrast", "MCC"], {}
    )  # MCC: torch eigenvalues, compiled counts
    assert list(out) == ["Correlation", "Contrast", "MCC"] and all(v.shape == (20,) for v in out.values())
    assert torch.equal(glcm.compute(batch, ["MCC"], {})["MCC"], out["MCC"])
    monkeypatch.undo()
    torch_counts = glcm.GLCMCoefficients(
        *(lambda c: (c + c.transpose(2, 3), batch.grey_levels, True))(
            cooccurrence.pair_counts(batch, glcm.glcm_angles([1]))
        )
    )
    torch.testing.assert_close(out["MCC"], glcm.mcc(torch_counts), rtol=0, atol=0, equal_nan=True)


def test_float32_batches_get_float32_maps() -> None:
    offsets = kernel_offsets(2)
    batch = random_batch(torch.Generator().manual_seed(4), 10, offsets, 8, 0.2)
    as32 = KernelBatch(batch.levels, batch.grey_levels.float(), offsets, 2)
    out32 = glcm.compute(as32, ["Correlation", "JointEntropy"], {})
    out64 = glcm.compute(batch, ["Correlation", "JointEntropy"], {})
    for name, value in out32.items():
        assert value.dtype == torch.float32
        torch.testing.assert_close(value, out64[name].float(), rtol=1e-6, atol=1e-7)
