"""GLCM counting per backend: the compiled CPU counting and the torch counting (CUDA's code, run here on CPU
tensors) give the same integer entries bit for bit, and every formula run from either backend gives the same
values bit for bit (one formula source; MCC included), for random levels with masked cells, radii 1, 2, 5, force2D
kernels on each axis, one and many kernels per batch, symmetrical and asymmetrical, with and without weightingNorm.
Each test also asserts which counting code ran."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from pdacrad.radiomics import glcm, maps
from pdacrad.radiomics.backend import Backend
from pdacrad.radiomics.family import FamilyContext
from pdacrad.radiomics.glcm import counting, sliding
from pdacrad.radiomics.kernel import KernelBatch, kernel_offsets
from tests.radiomics import family_checks as checks
from tests.radiomics.reference import real_ct_roi

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
            want = counting.sparse_pair_counts(batch, angles, symmetric)
            got = sliding.compiled_pair_counts(batch, angles, symmetric)
            assert len(want[0]) > 0 or batch.levels.count_nonzero() == 0
            for name, w, h in zip(("codes", "counts"), want, got, strict=True):
                assert h.dtype == torch.int64, name
                assert torch.equal(h, w), (name, symmetric)


@pytest.mark.parametrize(("radius", "force2d", "dimension"), checks.COMPILED_PATH_KERNELS)
@pytest.mark.parametrize("settings", [{}, {"symmetricalGLCM": False}, {"weightingNorm": "euclidean"}])
def test_both_backends_give_the_same_values_and_say_which_ran(
    radius: int, force2d: bool, dimension: int, settings: dict
) -> None:
    settings = {"force2D": force2d, "force2Ddimension": dimension, **settings}
    context = FamilyContext(spacing_zyx=(2.5, 0.8, 0.7))
    fused = settings.get("weightingNorm") is None
    for batch in _batches(radius, force2d, dimension, 40):
        with (
            checks.spy(glcm, "fused_features") as fused_calls,
            checks.spy(counting, "compiled_pair_counts") as compiled_counts,
            checks.spy(counting, "sparse_pair_counts") as torch_counts,
        ):
            compiled = glcm.compute(replace(batch, backend=COMPILED), ALL, settings, context)
            # MCC included: the fused driver evaluates it too, so no entries are counted on the fused route
            assert (
                len(fused_calls) == int(fused)
                and len(compiled_counts) == int(not fused)
                and torch_counts == []
            )
            via_torch = glcm.compute(replace(batch, backend=TORCH), ALL, settings, context)
            assert len(fused_calls) == int(fused) and len(torch_counts) == 1
            assert len(compiled_counts) == int(not fused)
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


# --- Sliding counting: kernels of target voxels that follow each other along x are slid, not counted afresh ------


SLIDING_KERNELS = [*checks.COMPILED_PATH_KERNELS, pytest.param(1, True, 1, id="r1-force2D-y")]


@pytest.mark.parametrize(("radius", "force2d", "dimension"), SLIDING_KERNELS)
@pytest.mark.parametrize("distances", [[1], [1, 2], [3]])
def test_sliding_counts_equal_fresh_counts_bit_for_bit(
    radius: int, force2d: bool, dimension: int, distances: list[int]
) -> None:
    angles = glcm.glcm_angles(distances, force2d, dimension)
    batch = checks.random_volume_batch(radius, radius, force2d, dimension, (4, 5, 26), 9)
    for symmetric in (True, False):
        fresh = sliding.compiled_pair_counts(batch, angles, symmetric, slide=False)
        with checks.slides(sliding, "_pair_entries") as slid:
            got = sliding.compiled_pair_counts(batch, angles, symmetric)
        # kernels flat along x (force2D on x) change wholly per step: counted afresh, never slid
        assert (slid[0] > batch.n_voxels // 3) if not (force2d and dimension == 2) else slid == [0]
        assert (len(fresh[0]) > 0) == (max(distances) <= 2 * radius)  # distance 3 fits no r = 1 kernel
        for f, g in zip(fresh, got, strict=True):
            assert torch.equal(f, g), symmetric
    torch_counts = counting.sparse_pair_counts(batch, angles, True)
    assert all(torch.equal(t, g) for t, g in zip(torch_counts, got[:2], strict=True)) or not symmetric


@pytest.mark.parametrize(("radius", "force2d", "dimension"), SLIDING_KERNELS)
@pytest.mark.parametrize("settings", [{}, {"symmetricalGLCM": False, "distances": [1, 2]}])
def test_sliding_features_equal_fresh_features_bit_for_bit(
    radius: int, force2d: bool, dimension: int, settings: dict
) -> None:
    settings = {"force2D": force2d, "force2Ddimension": dimension, **settings}
    batch = checks.random_volume_batch(10 + radius, radius, force2d, dimension, (3, 4, 30), 12)
    fresh = glcm.compute(replace(batch, backend=replace(COMPILED, sliding=False)), ALL, settings)
    assert not glcm.needs_kernels(COMPILED, ALL, settings)  # MCC too: evaluated by the fused driver
    with checks.slides(glcm, "fused_features") as slid, checks.spy(sliding, "_pair_entries") as entries:
        got = glcm.compute(batch, ALL, settings)  # slid over the volume
        on_rows = glcm.compute(replace(batch, volume=None), ALL, settings)  # slid over the gathered rows
        # as the engine runs it: nothing gathered
        from_volume = glcm.compute(replace(batch, levels=batch.levels[:, :0]), ALL, settings)
    assert len(slid) == 3 and entries == []
    flat_x = force2d and dimension == 2  # kernels flat along x change wholly per step: never slid
    assert all((n > batch.n_voxels // 3) if not flat_x else n == 0 for n in slid)
    for name in ALL:
        assert _same(got[name], fresh[name]) and _same(on_rows[name], fresh[name]), name
        assert _same(from_volume[name], fresh[name]), name
    assert torch.isfinite(got["Correlation"]).sum() > batch.n_voxels // 2


def test_long_runs_with_many_levels_restart_at_the_level_cap() -> None:
    # 700 levels, 60-voxel scan lines at r = 2: a run gathers > LEVEL_CAP levels and is cut, its next kernel
    # counted afresh with new run-local levels
    batch = checks.random_volume_batch(3, 2, False, 0, (2, 2, 70), 700)
    angles = glcm.glcm_angles([1])
    with checks.slides(sliding, "_pair_entries") as slid:
        got = sliding.compiled_pair_counts(batch, angles, True)
    want = counting.sparse_pair_counts(batch, angles, True)
    assert all(torch.equal(w, g) for w, g in zip(want, got, strict=True))
    runs_cut = batch.n_voxels - slid[0]
    line_starts = len(torch.unique(batch.voxels[:, :2], dim=0))
    assert runs_cut > line_starts + 2  # more fresh counts than scan-line breaks alone would give
    fresh = glcm.compute(replace(batch, backend=replace(COMPILED, sliding=False)), ALL, {})
    slid_values = glcm.compute(batch, ALL, {})
    assert all(_same(slid_values[name], fresh[name]) for name in ALL)
    assert torch.isfinite(slid_values["MCC"]).any()


@pytest.mark.parametrize(
    ("radius", "features"), [(2, ["Correlation", "Imc2", "Contrast"]), (5, ["JointEntropy"])]
)
def test_engine_slides_over_its_volume_without_gathering_kernels(radius: int, features: list[str]) -> None:
    # the engine core as it runs a map: GLCM on the compiled backend reads the padded level volume, gathers no
    # kernels, slides most of them, and gives the per-kernel counting's maps bit for bit
    filtered = checks.original_image(*real_ct_roi(), radius)
    n_roi = int((sitk.GetArrayFromImage(filtered.mask) == 1).sum())
    with checks.spy(maps, "gather_kernels") as gathered, checks.slides(glcm, "fused_features") as slid:
        got = maps._family_maps(filtered, "glcm", features, COMPILED, torch.float64, 1, None)
    assert gathered == [] and sum(slid) > n_roi // 2
    with checks.spy(maps, "gather_kernels") as gathered, checks.slides(glcm, "fused_features") as slid:
        fresh = maps._family_maps(
            filtered, "glcm", features, replace(COMPILED, sliding=False), torch.float64, 1, None
        )
    assert len(gathered) == len(slid) and sum(slid) == 0
    for name in features:
        assert np.array_equal(got[name], fresh[name], equal_nan=True), name
