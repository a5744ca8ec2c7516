"""The compiled CPU GLCM (``_glcm_cpu``) against the torch paths it replaces on the CPU: the same integer counts,
bit for bit (sparse entries and dense matrices), and the sparse-path features to rounding (the compiled sums run in
another order than torch's vectorised reductions, so floats agree to ~1e-15 relative, not bit for bit), for random
levels with masked cells, radii 1, 2, 5, force2D kernels on each axis, one and many kernels per batch."""

from __future__ import annotations

import pytest
import torch

from pdacrad.radiomics import _glcm_cpu, cooccurrence, glcm, glcm_sparse
from pdacrad.radiomics.kernel import KernelBatch, kernel_offsets


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


KERNELS = [
    pytest.param(1, False, 0, id="r1"),
    pytest.param(2, False, 0, id="r2"),
    pytest.param(5, False, 0, id="r5"),
    pytest.param(2, True, 0, id="r2-force2D-z"),
    pytest.param(3, True, 1, id="r3-force2D-y"),
    pytest.param(5, True, 2, id="r5-force2D-x"),
]
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


@pytest.mark.parametrize(("radius", "force2d", "dimension"), KERNELS)
@pytest.mark.parametrize("n_voxels", [1, 40])
def test_sparse_features_equal_the_torch_path(
    radius: int, force2d: bool, dimension: int, n_voxels: int
) -> None:
    angles = glcm.glcm_angles([1], force2d, dimension)
    names = list(_glcm_cpu.FEATURE_ORDER)
    for batch in _batches(radius, force2d, dimension, n_voxels):
        torch_path = glcm_sparse.SparseGLCM(batch, angles, symmetric=True)
        got = _glcm_cpu.sparse_features(batch.levels, batch.offsets, angles, batch.grey_levels, names)
        for name in names:
            want = glcm_sparse.FEATURES[name](torch_path)
            assert got[name].dtype == torch.float64 and got[name].shape == want.shape
            # atol: Correlation of random kernels sits near 0, where rounding of its centred sums is absolute
            torch.testing.assert_close(got[name], want, rtol=1e-12, atol=1e-14, equal_nan=True, msg=name)


def test_flat_and_lone_cell_kernels() -> None:
    offsets = kernel_offsets(1, True, 0)
    flat = torch.ones(9, dtype=torch.int64)
    checker = torch.tensor([1, 2, 1, 2, 1, 2, 1, 2, 1])
    lone = torch.tensor([0, 0, 0, 0, 2, 0, 0, 0, 0])
    levels = torch.stack([flat, checker, lone])
    grey = torch.tensor([10.0, 30.0], dtype=torch.float64)
    angles = glcm.glcm_angles([1], True, 0)
    out = _glcm_cpu.sparse_features(levels, offsets, angles, grey, list(_glcm_cpu.FEATURE_ORDER))
    assert (
        out["Correlation"][0] == 1 and out["Imc2"][0] == 0 and out["Imc1"][0] == 0
    )  # one level: σ = 0, H = 0
    assert torch.isnan(torch.stack([v[2] for v in out.values()])).all()  # no pair in any angle
    batch = KernelBatch(levels=levels, grey_levels=grey, offsets=offsets, radius=1)
    torch_path = glcm_sparse.SparseGLCM(batch, angles, symmetric=True)
    for name, value in out.items():
        torch.testing.assert_close(value, glcm_sparse.FEATURES[name](torch_path), equal_nan=True, msg=name)


def test_cpu_batches_take_the_compiled_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    offsets = kernel_offsets(1)
    batch = random_batch(torch.Generator().manual_seed(3), 20, offsets, 5, 0.2)
    expected_sparse = glcm.compute(batch, ["Correlation", "Imc2"], {})
    expected_dense = glcm.compute(batch, ["Contrast", "Correlation"], {})

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a torch counting path ran on a CPU batch")

    monkeypatch.setattr(glcm_sparse, "SparseGLCM", refuse)
    monkeypatch.setattr(glcm, "pair_counts", refuse)
    assert set(glcm.compute(batch, ["Correlation", "Imc2"], {})) == set(expected_sparse)
    dense = glcm.compute(batch, ["Contrast", "Correlation"], {})
    torch.testing.assert_close(dense["Contrast"], expected_dense["Contrast"], rtol=0, atol=0)


def test_float32_batches_get_float32_maps() -> None:
    offsets = kernel_offsets(2)
    batch = random_batch(torch.Generator().manual_seed(4), 10, offsets, 8, 0.2)
    as32 = KernelBatch(batch.levels, batch.grey_levels.float(), offsets, 2)
    out32 = glcm.compute(as32, ["Correlation", "JointEntropy"], {})
    out64 = glcm.compute(batch, ["Correlation", "JointEntropy"], {})
    for name, value in out32.items():
        assert value.dtype == torch.float32
        torch.testing.assert_close(value, out64[name].float(), rtol=1e-6, atol=1e-7)
