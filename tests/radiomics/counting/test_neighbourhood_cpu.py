"""The compiled CPU NGTDM / GLDM counting (``neighbourhood_cpu``) against the torch paths it replaces on the CPU
(kept for CUDA), for random level volumes with masked cells, radii 1, 2, 5, force2D kernels, one and many kernels
per batch, float64 and float32; and its sliding walk against counting every kernel afresh.

GLDM: the same dependence counts as torch, integers. NGTDM: the same ``n_i``; ``s_i`` is exact on the compiled
path (integer multiples of ``1 / lcm(1..26)``, one rounding at the end) where torch rounds each cell's mean, so the
two agree closely (:data:`CLOSE`), not bit for bit. Sliding a kernel along a scan line
gives the tables of a fresh count bit for bit: they are integers.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import replace

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from pdacrad.radiomics import compute_maps, gldm, maps, ngtdm
from pdacrad.radiomics.counting import neighbourhood_cpu
from pdacrad.radiomics.counting.neighbourhood_cpu import NEIGHBOURS_LCM
from pdacrad.radiomics.family import FamilyContext
from pdacrad.radiomics.kernel import KernelBatch, gather_kernels, kernel_offsets, pad_volume
from tests.radiomics import family_checks as checks
from tests.radiomics.reference import real_ct_roi
from tests.radiomics.test_engine import _sub_mask, assert_same_maps, reference_maps

GREY = [1.0, 2.0, 4.0, 7.0, 8.0]
"""Grey-level values by level index 1..5: uneven steps, so neighbour means are not level indices."""

CLOSE = {torch.float64: 1e-12, torch.float32: checks.FLOAT32_RTOL}
"""Relative agreement of the exact compiled ``s_i`` with torch's per-cell rounding: ``i - Ā`` cancels, so a cell's
rounding error is up to ``eps · i / |i - Ā|`` (``|i - Ā| ≥ 1/26``) — ~1e-14 in float64, ~1e-5 in float32."""

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
    assert compiled_volumes.diff.dtype == torch.int64 and compiled_volumes.scale == NEIGHBOURS_LCM
    exact = compiled_volumes.diff[:, roi].to(torch.float64) / NEIGHBOURS_LCM
    torch.testing.assert_close(exact.to(dtype), torch_volumes.diff[:, roi], rtol=CLOSE[dtype], atol=0)
    assert torch.equal(compiled_volumes.cell_class, torch_volumes.cell_class)
    want = ngtdm._torch_gathered_tones(batch, torch_volumes)
    got = ngtdm._gathered_tones(batch, compiled_volumes)
    assert got.n.dtype == got.s.dtype == dtype
    assert torch.equal(got.n, want.n)
    torch.testing.assert_close(got.s, want.s, rtol=CLOSE[dtype], atol=0)
    assert float(got.n.sum()) == float((batch.levels > 0).sum())
    # the torch gather of the compiled (integer) volumes: the same exact s_i, rounded once per cell
    torch.testing.assert_close(
        ngtdm._torch_gathered_tones(batch, compiled_volumes).s, got.s, rtol=CLOSE[dtype], atol=0
    )
    features = ngtdm.compute(batch, list(ngtdm.FEATURES), {}, FamilyContext(prepared=compiled_volumes))
    for name, fn in ngtdm.FEATURES.items():
        torch.testing.assert_close(
            features[name], fn(want), rtol=100 * CLOSE[dtype], atol=0, equal_nan=True, msg=name
        )


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
    features = gldm.compute(batch, list(gldm.FEATURES), {}, FamilyContext(prepared=compiled_volumes))
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
        (ngtdm, "_torch_volume_tones"),  # integer grey levels: the exact compiled volumes
        (ngtdm, "_torch_gathered_tones"),
        (gldm, "_torch_volume_dependence"),
        (gldm, "_torch_gathered_matrix"),
    ]:
        monkeypatch.setattr(module, name, refuse)
    settings = {"kernelRadius": 1}
    levels = checks.discretised_image(volume, volume > 0, 1, batch.grey_levels)
    compiled = checks.COMPILED_ONE_WORKER
    tones = FamilyContext(prepared=ngtdm.prepare(levels, ["Strength"], settings, compiled))
    dependence = FamilyContext(prepared=gldm.prepare(levels, ["DependenceEntropy"], settings, compiled))
    assert ngtdm.compute(batch, ["Strength"], settings, tones)["Strength"].shape == (20,)
    assert gldm.compute(batch, ["DependenceEntropy"], settings, dependence)["DependenceEntropy"].shape == (
        20,
    )


# --- Sliding: a kernel's tables moved along a scan line equal a fresh count ----------------------------------------


def walk_slides() -> AbstractContextManager[list[int]]:
    """Record how many kernels each compiled NGTDM/GLDM walk slid."""
    return checks.slides(neighbourhood_cpu, "walk", at=2)


SLIDING_KERNELS = [
    *checks.COMPILED_PATH_KERNELS,
    pytest.param(3, False, 0, id="r3"),
    pytest.param(1, True, 1, id="r1-force2D-y"),
]


def _walks(batch: KernelBatch, data: torch.Tensor, cell_class: torch.Tensor, width: int):  # type: ignore[no-untyped-def]
    """(fresh, slid over the volume, slid over the gathered rows) walks of ``batch``."""
    fresh = neighbourhood_cpu.walk(batch, data, cell_class, width, slide=False)
    on_volume = neighbourhood_cpu.walk(batch, data, cell_class, width, slide=True)
    on_rows = neighbourhood_cpu.walk(replace(batch, volume=None), data, cell_class, width, slide=True)
    return fresh, on_volume, on_rows


@pytest.mark.parametrize(("radius", "force2d", "dim"), SLIDING_KERNELS)
@pytest.mark.parametrize("longest_step", ["default", "largest"])
def test_sliding_tables_equal_fresh_tables_bit_for_bit(
    radius: int, force2d: bool, dim: int, longest_step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if longest_step == "largest":  # every step the geometry allows (the default slides from kernelRadius 3)
        monkeypatch.setattr(neighbourhood_cpu, "slide_limit", lambda extent: extent - 3)
    batch = checks.random_volume_batch(radius + dim, radius, force2d, dim, (4, 5, 30), 7)
    level_index = batch.volume[(slice(radius, -radius),) * 3] if radius else batch.volume
    tones = ngtdm.volume_tones(level_index, batch.grey_levels, batch.offsets, radius)
    dependence = gldm.volume_dependence(level_index, batch.grey_levels, batch.offsets, radius, 2.0)
    flat_x = force2d and dim == 2  # kernels flat along x change wholly per step: never slid
    extent = 2 * radius + 1
    slides = not flat_x and neighbourhood_cpu.slide_limit(extent) > 0
    for data, cells, width in [
        (tones.diff, tones.cell_class, 0),
        (dependence.dependent, dependence.cell_class, dependence.n_dep),
    ]:
        (n0, s0, slid0), (n1, s1, slid1), (n2, s2, slid2) = _walks(batch, data, cells, width)
        assert slid0 == 0 and slid1 == slid2 and (slid1 > batch.n_voxels // 3 if slides else slid1 == 0)
        assert np.array_equal(n0, n1) and np.array_equal(n0, n2)
        assert np.array_equal(s0, s1) and np.array_equal(s0, s2)
        assert n0.sum() == int((batch.levels > 0).sum())
    # and the features: sliding on (the default) against off, as the families run them
    fresh = replace(batch, backend=replace(checks.COMPILED_ONE_WORKER, sliding=False))
    for module, prepared in [(ngtdm, tones), (gldm, dependence)]:
        names = list(module.FEATURES)
        context = FamilyContext(prepared=prepared)
        got = module.compute(replace(batch, levels=batch.levels[:, :0]), names, {}, context)
        want = module.compute(fresh, names, {}, context)
        for name in names:
            assert torch.equal(got[name].nan_to_num(-7.0), want[name].nan_to_num(-7.0)), name


def test_non_integer_grey_levels_take_the_float_walk_without_sliding() -> None:
    # the exact integer s_i needs integer grey levels (bin numbers always are): otherwise the torch volumes, summed
    # by the compiled walk in cell order, and no kernel slides (a float sum depends on the order of addition)
    batch = checks.random_volume_batch(8, 3, False, 0, (3, 4, 30), 5)
    batch = replace(batch, grey_levels=batch.grey_levels + 0.25)
    level_index = batch.volume[(slice(3, -3),) * 3]
    assert not neighbourhood_cpu.integer_tones(batch.grey_levels, len(batch.offsets))
    tones = ngtdm.volume_tones(level_index, batch.grey_levels, batch.offsets, 3)
    assert tones.scale == 1 and tones.diff.dtype == torch.float64
    with checks.spy(neighbourhood_cpu, "_walk") as walked:
        n, s, slid = neighbourhood_cpu.walk(batch, tones.diff, tones.cell_class, 0, slide=True)
    assert len(walked) == 1 and slid == 0
    want = ngtdm._torch_gathered_tones(batch, tones)
    assert np.array_equal(n, want.n.numpy())
    np.testing.assert_allclose(s, want.s.numpy(), rtol=1e-13)


@pytest.mark.parametrize("radius", [2, 5])
def test_engine_walks_its_volume_without_gathering_kernels(radius: int) -> None:
    # the engine core as it runs a map: NGTDM/GLDM on the compiled backend read the padded level volume, gather no
    # kernels, slide most of them at kernelRadius 5, and give the fresh count's maps bit for bit
    filtered = checks.original_image(*real_ct_roi(), radius)
    n_roi = int((sitk.GetArrayFromImage(filtered.mask) == 1).sum())
    compiled = checks.COMPILED_ONE_WORKER
    for family, features in [("ngtdm", ["Strength", "Coarseness"]), ("gldm", ["DependenceEntropy"])]:
        with checks.spy(maps, "gather_kernels") as gathered, walk_slides() as slid:
            got = maps._family_maps(filtered, family, features, compiled, torch.float64, 1, None)
        assert gathered == [] and (sum(slid) > n_roi // 2 if radius == 5 else sum(slid) == 0), family
        with walk_slides() as slid:
            fresh = maps._family_maps(
                filtered, family, features, replace(compiled, sliding=False), torch.float64, 1, None
            )
        assert sum(slid) == 0
        for name in features:
            assert np.array_equal(got[name], fresh[name], equal_nan=True), name
            assert np.nanstd(got[name]) > 0, name


def test_slid_maps_match_live_pyradiomics() -> None:
    # every NGTDM and GLDM feature through compute_maps (exact tones, kernels slid at kernelRadius 4) against the
    # live PyRadiomics extractor on a real-CT sub-ROI
    image, mask = real_ct_roi()
    mask = _sub_mask(mask, half=3)
    params = {
        "setting": {"binWidth": 25},
        "voxelSetting": {"kernelRadius": 4},
        "imageType": {"Original": {}},
        "featureClass": {"ngtdm": sorted(ngtdm.FEATURES), "gldm": sorted(gldm.FEATURES)},
    }
    with walk_slides() as slid:
        ours = compute_maps(image, mask, params, device="cpu")
    assert sum(slid) > 0
    assert_same_maps(ours, reference_maps(image, mask, params), image)
