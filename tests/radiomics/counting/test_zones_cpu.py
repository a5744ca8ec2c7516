"""The compiled CPU zone finder (``zones_cpu``) gives the torch label-propagation path's zone list, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pdacrad.radiomics import glszm, maps
from pdacrad.radiomics.counting import common, zones_cpu
from pdacrad.radiomics.kernel import KernelBatch, kernel_offsets
from tests.radiomics import family_checks as checks
from tests.radiomics.reference import real_ct_roi


def random_levels(generator: torch.Generator, n: int, k: int, n_levels: int, masked: float) -> torch.Tensor:
    """``(n, k)`` int64 level indices ``1..n_levels``, with about a fraction ``masked`` set to 0 (not in the
    kernel)."""
    levels = torch.randint(1, n_levels + 1, (n, k), generator=generator)
    out = torch.rand((n, k), generator=generator) < masked
    return torch.where(out, torch.zeros_like(levels), levels)


def compiled_zones(levels: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """:func:`zones_cpu.zone_list` of gathered kernel rows ``levels``."""
    grey = torch.ones(1, dtype=torch.float64)
    return zones_cpu.zone_list(KernelBatch(levels, grey, offsets, int(offsets.abs().max())))


def assert_same_zones(levels: torch.Tensor, offsets: torch.Tensor) -> None:
    expected = glszm.propagated_zone_list(levels, offsets)
    got = compiled_zones(levels, offsets)
    for name, want, have in zip(("voxel", "level", "size"), expected, got, strict=True):
        assert have.dtype == torch.int64, name
        assert torch.equal(have, want), name


KERNELS = checks.COMPILED_PATH_KERNELS


@pytest.mark.parametrize(("radius", "force2d", "dimension"), KERNELS)
@pytest.mark.parametrize("n_voxels", [1, 60])
def test_compiled_zones_equal_label_propagation(
    radius: int, force2d: bool, dimension: int, n_voxels: int
) -> None:
    offsets = kernel_offsets(radius, force2d, dimension)
    k = offsets.shape[0]
    generator = torch.Generator().manual_seed(radius * 100 + n_voxels + dimension)
    # Many levels: mostly single-cell zones; two levels with half the cells masked: large winding zones near
    # the percolation threshold; one level unmasked: one zone filling the kernel.
    for n_levels, masked in ((6, 0.1), (2, 0.5), (2, 0.2), (1, 0.0)):
        assert_same_zones(random_levels(generator, n_voxels, k, n_levels, masked), offsets)


def test_empty_and_fully_masked_kernels() -> None:
    offsets = kernel_offsets(2)
    k = offsets.shape[0]
    assert_same_zones(torch.zeros((3, k), dtype=torch.int64), offsets)
    assert_same_zones(torch.zeros((0, k), dtype=torch.int64), offsets)
    voxel, level, size = compiled_zones(torch.zeros((3, k), dtype=torch.int64), offsets)
    assert voxel.numel() == level.numel() == size.numel() == 0


def test_size_zones_on_cpu_uses_the_compiled_path(monkeypatch: pytest.MonkeyPatch) -> None:
    offsets = kernel_offsets(1)
    generator = torch.Generator().manual_seed(7)
    levels = random_levels(generator, 5, offsets.shape[0], 3, 0.2)
    batch = KernelBatch(levels=levels, grey_levels=torch.tensor([1.0, 2.0, 3.0]), offsets=offsets, radius=1)

    def refuse(*_: object) -> None:
        raise AssertionError("label propagation ran on a CPU batch")

    monkeypatch.setattr(glszm, "propagated_zone_list", refuse)
    zones = glszm.size_zones(batch)
    assert int(zones.size.sum()) == int((levels > 0).sum())


@pytest.mark.parametrize(("force2d", "expected"), [(False, 13), (True, 4)])
def test_each_cell_looks_back_at_half_its_neighbours(force2d: bool, expected: int) -> None:
    offsets = kernel_offsets(2, force2d)
    table = torch.from_numpy(zones_cpu.preceding_neighbours(offsets).copy())
    k = offsets.shape[0]
    assert table.shape == (k, expected)
    assert bool((table < torch.arange(k)[:, None]).logical_or(table == k).all())
    full = common.neighbour_table(offsets, common.angles(offsets, (1,), bidirectional=True)).T
    for cell in range(k):
        linked = full[cell][full[cell] < cell]
        assert sorted(table[cell][table[cell] < k].tolist()) == sorted(linked.tolist()), cell


@pytest.mark.parametrize("radius", [1, 5])
def test_engine_reads_zones_from_its_volume(radius: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # the engine core as it runs a map: GLSZM on the compiled backend reads the padded level volume, gathers no
    # kernels, and gives the zones of the gathered kernels (the torch path's, test_backend) bit for bit
    filtered = checks.original_image(*real_ct_roi(), radius)
    names = list(glszm.FEATURES)
    compiled = checks.COMPILED_ONE_WORKER
    assert not glszm.needs_kernels(compiled, names, {}) and glszm.needs_kernels(
        checks.TORCH_ON_CPU, names, {}
    )
    with checks.spy(maps, "gather_kernels") as gathered, checks.spy(zones_cpu, "zone_list") as listed:
        got = maps._family_maps(filtered, "glszm", names, compiled, torch.float64, 1, None)
    assert gathered == [] and listed
    monkeypatch.setattr(glszm, "needs_kernels", lambda *_: True)  # the same compiled zones from gathered rows
    with checks.spy(maps, "gather_kernels") as gathered:
        rows = maps._family_maps(filtered, "glszm", names, compiled, torch.float64, 1, None)
    assert gathered
    for name in names:
        assert np.array_equal(got[name], rows[name], equal_nan=True), name
