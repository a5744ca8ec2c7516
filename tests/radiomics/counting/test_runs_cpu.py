"""The compiled CPU run counting (``runs_cpu``) against the torch paths it replaces on the CPU: the same integers,
bit for bit, per angle, for random level volumes with masked cells, radii 1, 2, 5, force2D kernels, one and many
kernels per batch."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from pdacrad.radiomics import glrlm
from pdacrad.radiomics.counting import common, runs, runs_cpu
from pdacrad.radiomics.kernel import KernelBatch, gather_kernels, kernel_offsets, pad_volume

N_LEVELS = 3


def _random_volume(seed: int, masked: float, shape: tuple[int, int, int] = (13, 14, 15)) -> torch.Tensor:
    """``(z, y, x)`` level indices ``1..N_LEVELS`` with a ``masked`` fraction of 0 (outside the mask); few levels, so
    runs of several cells occur."""
    gen = torch.Generator().manual_seed(seed)
    levels = torch.randint(1, N_LEVELS + 1, shape, generator=gen)
    return torch.where(torch.rand(shape, generator=gen) < masked, torch.zeros_like(levels), levels)


def _batch(volume: torch.Tensor, voxels: torch.Tensor, offsets: torch.Tensor, radius: int) -> KernelBatch:
    """The gathered kernels of ``voxels`` with the padded level volume they come from (as the engine core builds a
    batch)."""
    padded = pad_volume(volume, radius)
    levels = gather_kernels(padded, voxels, offsets, padded_by=radius)
    grey = torch.arange(1, N_LEVELS + 1, dtype=torch.float64)
    return KernelBatch(levels, grey, offsets, radius, voxels=voxels, volume=padded)


def _assert_same_counts(
    volume: torch.Tensor, voxels: torch.Tensor, radius: int, force2d: bool, dim: int
) -> None:
    offsets = kernel_offsets(radius, force2d, dim)
    angles = common.angles(offsets, bidirectional=False)
    batch = _batch(volume, voxels, offsets, radius)
    levels = batch.levels
    volume_runs = runs.volume_runs(volume, angles, radius)
    cells = runs.KernelCells.of(levels, voxels, offsets, volume_runs)
    padded = common.pad_levels(levels).T.contiguous()
    for by_level in (True, False):
        compiled = runs_cpu.run_counts(batch, angles, by_level)
        # as the engine runs it: nothing gathered, the kernels read from the padded level volume
        from_engine_volume = runs_cpu.run_counts(replace(batch, levels=levels[:, :0]), angles, by_level)
        assert len(compiled) == angles.shape[0]
        assert all(torch.equal(c, e) for c, e in zip(compiled, from_engine_volume, strict=True))
        for a, angle in enumerate(angles):
            from_volume = runs.run_counts(cells, offsets, volume_runs, a, N_LEVELS, torch.float64, by_level)
            from_lines = glrlm._angle_matrix(
                padded, glrlm._lines(offsets, angle), N_LEVELS, torch.float64, by_level
            )
            got = compiled[a]
            assert not got.is_floating_point()
            assert got.shape == from_volume.shape == from_lines.shape, (a, by_level)
            # counts are small integers: exact in float64, so equality of the floats is equality of the integers
            assert torch.equal(got.to(torch.float64), from_volume), (radius, force2d, a, by_level)
            assert torch.equal(got.to(torch.float64), from_lines), (radius, force2d, a, by_level)


@pytest.mark.parametrize(
    ("radius", "force2d", "dim"),
    [(1, False, 0), (2, False, 0), (5, False, 0), (2, True, 0), (2, True, 2), (5, True, 1)],
)
@pytest.mark.parametrize("masked", [0.2, 0.85])
def test_counts_equal_both_torch_paths(radius: int, force2d: bool, dim: int, masked: float) -> None:
    # 85 % masked: sparse kernels, many with only 1-cell runs or empty angles (the kernel's second walk)
    volume = _random_volume(seed=radius * 10 + dim, masked=masked)
    inside = torch.nonzero(volume > 0)
    many = inside[torch.randperm(len(inside), generator=torch.Generator().manual_seed(1))[:150]]
    _assert_same_counts(volume, many, radius, force2d, dim)
    _assert_same_counts(volume, inside[:1], radius, force2d, dim)  # batch of one
    corners = torch.tensor([[0, 0, 0], [12, 13, 14]])
    _assert_same_counts(volume, corners, radius, force2d, dim)


def test_empty_angles_and_one_cell_runs() -> None:
    # Along x: ROI cells 1, 2, 1 in one line (runs of 1 cell, not empty) vs cells in separate lines (empty)
    volume = torch.zeros((3, 3, 7), dtype=torch.int64)
    volume[1, 1, 1:4] = torch.tensor([1, 2, 1])
    volume[0, 0, 5] = volume[2, 2, 6] = 3
    voxels = torch.tensor([[1, 1, 2], [0, 0, 5], [1, 1, 6]])
    _assert_same_counts(volume, voxels, 1, False, 0)
    offsets = kernel_offsets(1)
    angles = common.angles(offsets, bidirectional=False)
    batch = _batch(volume, voxels, offsets, 1)
    along_x = next(a for a, angle in enumerate(angles.tolist()) if angle in ([0, 0, 1], [0, 0, -1]))
    counts = runs_cpu.run_counts(batch, angles)[along_x]
    assert counts[0].sum() == 3 and counts[0, :, 0].sum() == 3  # three 1-cell runs in one line: counted
    assert counts[2].sum() == 0  # (1, 1, 6): two ROI cells, in different lines along x: the angle is empty
    for per_angle in runs_cpu.run_counts(batch, angles):
        assert per_angle[1].sum() == 0  # (0, 0, 5): one ROI cell in its kernel, every angle empty


def test_line_order_covers_every_cell_once_per_angle() -> None:
    offsets = kernel_offsets(2, True, 1)
    angles = common.angles(offsets, bidirectional=False)
    order, lengths = runs_cpu.line_order(offsets, angles)
    k = offsets.shape[0]
    assert order.shape[0] == angles.shape[0] == 4 and lengths.tolist() == [5] * 4
    for seq in order:
        cells = seq[seq < k]
        assert sorted(cells.tolist()) == list(range(k))
    assert not order.flags.writeable  # shared between calls through the cache
