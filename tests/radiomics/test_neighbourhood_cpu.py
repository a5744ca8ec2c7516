"""The compiled CPU NGTDM / GLDM counting (``_neighbourhood_cpu``) against the torch paths it replaces on the CPU
(kept for CUDA): the same ``n_i``, ``s_i`` and ``P(i, j)`` bit for bit, and so the same features, for random level
volumes with masked cells, radii 1, 2, 5, force2D kernels, one and many kernels per batch, float64 and float32.

Bit-for-bit float equality is expected, not just closeness: the neighbour counts and sums add integer grey-level
values (exact in any order), ``Ā`` and ``|i - Ā|`` are the same single IEEE operations rounded to the batch dtype,
and ``s_i`` adds the same values in the same cell order as torch's ``scatter_add``."""

from __future__ import annotations

import pytest
import torch

from pdacrad.radiomics import gldm, ngtdm
from pdacrad.radiomics.kernel import KernelBatch, gather_kernels, kernel_offsets, pad_volume
from tests.radiomics import family_checks as checks

GREY = [1.0, 2.0, 4.0, 7.0, 8.0]
"""Grey-level values by level index 1..5: uneven steps, so neighbour means are not level indices."""

KERNELS = checks.COMPILED_PATH_KERNELS


def _random_volume(seed: int, masked: float, shape: tuple[int, int, int] = (11, 12, 13)) -> torch.Tensor:
    """``(z, y, x)`` level indices ``1..len(GREY)`` with a ``masked`` fraction of 0 (outside the ROI)."""
    gen = torch.Generator().manual_seed(seed)
    levels = torch.randint(1, len(GREY) + 1, shape, generator=gen)
    return torch.where(torch.rand(shape, generator=gen) < masked, torch.zeros_like(levels), levels)


def _batch(
    volume: torch.Tensor, n_voxels: int, radius: int, force2d: bool, dim: int, dtype: torch.dtype
) -> KernelBatch:
    """Kernels of ``n_voxels`` random ROI cells of ``volume`` (the engine core's gather)."""
    offsets = kernel_offsets(radius, force2d, dim)
    inside = torch.nonzero(volume > 0)
    voxels = inside[torch.randperm(len(inside), generator=torch.Generator().manual_seed(1))[:n_voxels]]
    levels = gather_kernels(pad_volume(volume, radius), voxels, offsets, padded_by=radius)
    grey = torch.tensor(GREY, dtype=dtype)
    return KernelBatch(levels=levels, grey_levels=grey, offsets=offsets, radius=radius, voxels=voxels)


@pytest.mark.parametrize(("radius", "force2d", "dim"), KERNELS)
@pytest.mark.parametrize("n_voxels", [1, 150])
@pytest.mark.parametrize("masked", [0.2, 0.85])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_ngtdm_equals_the_torch_path(
    radius: int, force2d: bool, dim: int, n_voxels: int, masked: float, dtype: torch.dtype
) -> None:
    volume = _random_volume(seed=radius * 10 + dim, masked=masked)
    batch = _batch(volume, n_voxels, radius, force2d, dim, dtype)
    grey = batch.grey_levels
    compiled_volumes = ngtdm.volume_tones(volume, grey, batch.offsets, radius)
    torch_volumes = ngtdm._torch_volume_tones(volume, grey, batch.offsets, radius)
    # the compiled volumes hold the torch ones at every ROI cell (outside it they are 0: no kernel reads there)
    roi = pad_volume(volume, radius) > 0
    assert torch.equal(compiled_volumes.diff[:, roi], torch_volumes.diff[:, roi])
    assert torch.equal(compiled_volumes.cell_class, torch_volumes.cell_class)
    want = ngtdm._torch_gathered_tones(batch, torch_volumes)
    got = ngtdm._gathered_tones(batch, compiled_volumes)
    assert got.n.dtype == got.s.dtype == dtype
    assert torch.equal(got.n, want.n) and torch.equal(got.s, want.s)
    assert float(got.n.sum()) == float((batch.levels > 0).sum())
    settings = {"_ngtdm_tones": compiled_volumes}
    features = ngtdm.compute(batch, list(ngtdm.FEATURES), settings)
    for name, fn in ngtdm.FEATURES.items():
        assert torch.equal(features[name], fn(want)), name


@pytest.mark.parametrize(("radius", "force2d", "dim"), KERNELS)
@pytest.mark.parametrize("n_voxels", [1, 150])
@pytest.mark.parametrize("masked", [0.2, 0.85])
@pytest.mark.parametrize("alpha", [0.0, 1.0, 3.5])
def test_gldm_equals_the_torch_path(
    radius: int, force2d: bool, dim: int, n_voxels: int, masked: float, alpha: float
) -> None:
    volume = _random_volume(seed=radius * 10 + dim + 1, masked=masked)
    batch = _batch(volume, n_voxels, radius, force2d, dim, torch.float64)
    grey = batch.grey_levels
    compiled_volumes = gldm.volume_dependence(volume, grey, batch.offsets, radius, alpha)
    torch_volumes = gldm._torch_volume_dependence(volume, grey, batch.offsets, radius, alpha)
    roi = pad_volume(volume, radius) > 0
    assert compiled_volumes.dependent.dtype == torch.int8
    assert torch.equal(compiled_volumes.dependent[:, roi], torch_volumes.dependent[:, roi])
    assert compiled_volumes.n_dep == torch_volumes.n_dep == (9 if force2d else 27)
    want = gldm._torch_gathered_matrix(batch, torch_volumes)
    got = gldm._gathered_matrix(batch, compiled_volumes)
    # counts are integers: exact in float64, so equal floats are equal integers
    assert torch.equal(got.P, want.P)
    assert float(got.P.sum()) == float((batch.levels > 0).sum())
    features = gldm.compute(batch, list(gldm.FEATURES), {"_gldm_dependence": compiled_volumes})
    for name, fn in gldm.FEATURES.items():
        assert torch.equal(features[name], fn(want)), name


def test_float32_alpha_is_compared_in_the_batch_dtype() -> None:
    # 0.1 is not a float32 number: both paths compare |i - j| against alpha rounded to float32, as torch does
    volume = _random_volume(seed=3, masked=0.2)
    batch = _batch(volume, 40, 2, False, 0, torch.float32)
    grey = torch.tensor([1.0, 1.1, 1.2, 1.3, 1.4], dtype=torch.float32)
    got = gldm.volume_dependence(volume, grey, batch.offsets, 2, 0.1)
    want = gldm._torch_volume_dependence(volume, grey, batch.offsets, 2, 0.1)
    roi = pad_volume(volume, 2) > 0
    assert torch.equal(got.dependent[:, roi], want.dependent[:, roi])


def test_empty_batches_and_fully_masked_kernels() -> None:
    volume = torch.zeros((6, 6, 6), dtype=torch.int64)
    volume[2, 3, 3] = 2
    batch = _batch(volume, 5, 2, False, 0, torch.float64)
    tones = ngtdm.volume_tones(volume, batch.grey_levels, batch.offsets, 2)
    t = ngtdm._gathered_tones(batch, tones)
    assert t.n.shape == (1, len(GREY)) and float(t.n.sum()) == 1 and float(t.s.sum()) == 0
    empty = KernelBatch(
        levels=batch.levels[:0],
        grey_levels=batch.grey_levels,
        offsets=batch.offsets,
        radius=2,
        voxels=batch.voxels[:0],
    )
    assert ngtdm._gathered_tones(empty, tones).n.shape == (0, len(GREY))
    vol = gldm.volume_dependence(volume, batch.grey_levels, batch.offsets, 2, 0.0)
    assert gldm._gathered_matrix(empty, vol).P.shape == (0, len(GREY), 27)


def test_cpu_batches_take_the_compiled_path(monkeypatch: pytest.MonkeyPatch) -> None:
    volume = _random_volume(seed=5, masked=0.3)
    batch = _batch(volume, 20, 1, False, 0, torch.float64)

    def refuse(*_: object) -> None:
        raise AssertionError("a torch path ran on a CPU batch")

    for module, name in [
        (ngtdm, "_torch_volume_tones"),
        (ngtdm, "_torch_gathered_tones"),
        (gldm, "_torch_volume_dependence"),
        (gldm, "_torch_gathered_matrix"),
    ]:
        monkeypatch.setattr(module, name, refuse)
    settings = {"kernelRadius": 1}
    extra = ngtdm.prepare(volume, volume > 0, 1, settings, grey_levels=batch.grey_levels)
    extra.update(gldm.prepare(volume, volume > 0, 1, settings, grey_levels=batch.grey_levels))
    assert ngtdm.compute(batch, ["Strength"], {**settings, **extra})["Strength"].shape == (20,)
    assert gldm.compute(batch, ["DependenceEntropy"], {**settings, **extra})["DependenceEntropy"].shape == (
        20,
    )
