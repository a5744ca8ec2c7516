"""GLCM MCC: the restricted eigenproblem is the full one (same non-zero spectrum), the compiled eigenvalues are
LAPACK's to rounding, MCC beside every other feature matches live PyRadiomics on real CT at r = 1, 2, 5, and
requesting MCC never moves the other features off the fused compiled path (the regression of issue #22)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from pdacrad.radiomics import glcm, maps
from pdacrad.radiomics._jit import jit
from pdacrad.radiomics.backend import COMPILED_BATCH, Backend
from pdacrad.radiomics.family import FamilyContext, KernelShape
from pdacrad.radiomics.glcm import counting, eigen
from tests.radiomics import family_checks as checks
from tests.radiomics.family_checks import discretised_image
from tests.radiomics.reference import pyradiomics_voxel_maps, real_ct_roi, reference_kernel_batch

COMPILED = checks.COMPILED_ONE_WORKER
TORCH = checks.TORCH_ON_CPU
ALL = list(glcm.FEATURES)
EPS = np.finfo(np.float64).eps


def _pyradiomics_q(p: np.ndarray) -> np.ndarray:
    """PyRadiomics' MCC matrix of one normalised ``(G, G)`` block, exactly as its ``getMCCFeatureValue`` forms it:
    ``Q(i,j) = Σ_k p(i,k) p(j,k) / (p_x(i) p_y(k) + ε)``."""
    px, py = p.sum(1), p.sum(0)
    return (p[:, None, :] * p[None, :, :] / (px[:, None, None] * py[None, None, :] + EPS)).sum(2)


def _nonzero_spectrum(q: np.ndarray) -> np.ndarray:
    values = np.linalg.eigvals(q)
    values = values[np.abs(values) > 1e-12]
    return np.sort_complex(values)


def test_restricted_q_has_the_full_q_spectrum_apart_from_zeros() -> None:
    # Real CT kernels at binWidth 5: ~40 ROI levels, of which a kernel holds a handful, so most rows of the ROI's
    # G × G matrix are zero. The restricted matrix (the levels with p_x > 0) has the same eigenvalues apart from
    # zeros, and so the same λ₂ (the zeros are never second largest: λ₁ = 1 and every λ ≥ 0).
    image, mask = real_ct_roi()
    batch, _ = reference_kernel_batch(image, mask, kernelRadius=2, binWidth=5)
    g = batch.n_levels
    angles = glcm.glcm_angles([1])
    codes, counts = counting.sparse_pair_counts(batch, angles, True)
    dense = torch.zeros(batch.n_voxels * len(angles) * (g + 1) ** 2, dtype=torch.float64)
    dense[codes] = counts.double()
    dense = dense.reshape(batch.n_voxels, len(angles), g + 1, g + 1)[:, :, 1:, 1:].numpy()
    checked, dropped = 0, 0
    for v in range(0, batch.n_voxels, 23):
        for a in range(len(angles)):
            block = dense[v, a]
            if block.sum() == 0:
                continue
            p = block / block.sum()
            full = _pyradiomics_q(p)
            keep = p.sum(1) > 0
            restricted = _pyradiomics_q(p[keep][:, keep])
            assert keep.sum() < g  # the point: rows and columns of absent levels were dropped
            dropped += g - int(keep.sum())
            assert np.abs(full[~keep]).max(initial=0) == 0 and np.abs(full[:, ~keep]).max(initial=0) == 0
            want, got = _nonzero_spectrum(full), _nonzero_spectrum(restricted)
            assert len(want) == len(got)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
            checked += 1
    assert checked > 200 and dropped > 10 * checked


@jit
def _eigenvalues(a: np.ndarray) -> tuple[np.ndarray, bool]:  # pragma: no cover - compiled
    k = a.shape[0]
    work, d, e = a.copy(), np.zeros(k), np.zeros(k)
    eigen.tridiagonalise(work, k, d, e)
    ok = eigen.tridiagonal_eigenvalues(d, e, k)
    return np.sort(d[:k]), ok


def _hard_matrices(rng: np.random.Generator) -> list[np.ndarray]:
    """Random symmetric matrices of 1-40 rows and the structured ones QL iteration finds hard: repeated
    eigenvalues, block-diagonal (disconnected levels, λ = 1 twice in MCC), rank one, zero rows, the checkerboard
    M (eigenvalues ±1), tiny and huge scales."""
    out = []
    for k in range(1, 41):
        x = rng.standard_normal((k, k))
        out.append((x + x.T) / 2)
        out.append(x @ x.T)
    out.append(np.diag(np.repeat([0.3, -1.0, 2.0], 4)))
    out.append(np.kron(np.eye(3), np.full((3, 3), 1 / 3)))  # three disconnected flat blocks
    u = rng.random(9)
    out.append(np.outer(u, u) / (u @ u))
    z = np.zeros((6, 6))
    z[1:3, 1:3] = [[0.0, 1.0], [1.0, 0.0]]
    out.append(z)
    out.append(np.array([[0.0, 1.0], [1.0, 0.0]]))
    out.append(1e-150 * (x + x.T))
    out.append(1e150 * (x + x.T))
    return out


def test_compiled_eigenvalues_are_lapacks_to_rounding() -> None:
    rng = np.random.default_rng(22)
    for a in _hard_matrices(rng):
        got, ok = _eigenvalues(np.ascontiguousarray(a))
        # LAPACK's reference on the matrix scaled (exactly, by a power of two) to unit size: on this machine's
        # OpenBLAS, eigvalsh of the 1e-150-scale matrix is itself off by ~4e-12 relative
        unit = 2.0 ** -np.frexp(max(np.abs(a).max(), np.finfo(np.float64).tiny))[1]
        want = np.linalg.eigvalsh(a * unit) / unit
        assert ok
        scale = max(np.abs(want).max(), np.finfo(np.float64).tiny)
        assert np.abs(got - want).max() <= 8 * len(a) * EPS * scale, (
            len(a),
            np.abs(got - want).max() / scale,
        )


def _all_maps(
    image: sitk.Image, mask: sitk.Image, settings: dict
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    batch, vox = reference_kernel_batch(image, mask, **settings)
    roi = torch.as_tensor(sitk.GetArrayFromImage(mask) == 1)
    masked = settings.get("maskedKernel", True)
    level_volume = roi.to(torch.int64) if masked else torch.ones_like(roi, dtype=torch.int64)
    levels = discretised_image(
        level_volume, roi, int(settings["kernelRadius"]), spacing_zyx=image.GetSpacing()[::-1]
    )
    context = FamilyContext(levels.spacing_zyx, glcm.prepare(levels, ALL, settings, Backend.choose("cpu")))
    with checks.spy(glcm, "fused_features") as fused:
        ours = glcm.compute(replace(batch, backend=COMPILED), ALL, settings, context)
    assert len(fused) == 1
    return {k: v.numpy() for k, v in ours.items()}, vox


SMALL_BOX = (slice(10, 22), slice(6, 16), slice(8, 14))
"""x, y, z (SimpleITK order) of a small block of the real CT ROI around pancreas voxels."""


@pytest.mark.parametrize(
    ("radius", "bin_width", "symmetrical"),
    [
        pytest.param(1, 25, True, id="r1"),
        pytest.param(2, 25, True, id="r2"),
        pytest.param(2, 5, True, id="r2-binWidth5"),
        pytest.param(5, 25, True, id="r5"),
        pytest.param(1, 10, False, id="r1-asymmetrical"),
    ],
)
def test_every_feature_with_mcc_matches_pyradiomics_on_real_ct(
    radius: int, bin_width: int, symmetrical: bool
) -> None:
    # All 24 features in one call (MCC computed beside the others): MCC to 1e-8 relative (PyRadiomics' own LAPACK
    # accuracy on its non-symmetric Q), the others to 1e-9. Unmasked kernels: PyRadiomics' MCC raises for a whole
    # batch as soon as one kernel has an angle without pairs, so the reference only exists where none does.
    image, mask = real_ct_roi()
    image, mask = image[SMALL_BOX], mask[SMALL_BOX]
    settings = {"kernelRadius": radius, "binWidth": bin_width, "maskedKernel": False}
    settings["symmetricalGLCM"] = symmetrical
    ref = pyradiomics_voxel_maps(image, mask, "glcm", ALL, **settings)
    ours, vox = _all_maps(image, mask, settings)
    mcc = ref["MCC"][tuple(vox.T)]
    assert np.isfinite(mcc).all() and np.ptp(mcc) > 0.04  # a real, varied reference
    # asymmetrical GLCM: Correlation's "σ = 0" branch flips on summation order (see test_glcm.py)
    for name in ALL if symmetrical else [f for f in ALL if f != "Correlation"]:
        rel, abs_ = (1e-8, 1e-8) if name == "MCC" else (1e-9, 1e-12)
        expected, got = ref[name][tuple(vox.T)], ours[name]
        assert np.array_equal(np.isnan(got), np.isnan(expected)), name
        ok = ~np.isnan(expected)
        err = np.abs(got[ok] - expected[ok])
        assert np.all((err <= abs_) | (err <= rel * np.abs(expected[ok]))), (name, err.max())


def test_both_backends_agree_on_mcc_bit_for_bit_on_real_ct() -> None:
    image, mask = real_ct_roi()
    batch, _ = reference_kernel_batch(image, mask, kernelRadius=2, binWidth=10)
    with checks.spy(glcm, "entries_features") as entries, checks.spy(glcm, "fused_features") as fused:
        via_torch = glcm.compute(replace(batch, backend=TORCH), ["MCC", "Contrast"], {})
        compiled = glcm.compute(replace(batch, backend=COMPILED), ["MCC", "Contrast"], {})
    assert len(entries) == 1 and len(fused) == 1
    for name in ("MCC", "Contrast"):
        assert torch.equal(via_torch[name].nan_to_num(-7.0), compiled[name].nan_to_num(-7.0)), name
    assert torch.isfinite(compiled["MCC"]).all() and compiled["MCC"].std() > 0.05


REQUESTS = [
    pytest.param(ALL, id="all-24-incl-MCC"),
    pytest.param(["MCC"], id="MCC-alone"),
    pytest.param([f for f in ALL if f != "MCC"], id="23-without-MCC"),
    pytest.param(["Correlation", "Imc1", "Imc2", "JointEntropy"], id="paper-four"),
]


@pytest.mark.parametrize("features", REQUESTS)
def test_the_engine_keeps_the_fused_path_for_every_request_that_does_not_need_entries(
    features: list[str],
) -> None:
    # Issue #22: requesting MCC once sent every GLCM feature of the map through gathered kernels, written-out
    # entries and cache-sized batches. On the compiled backend without weightingNorm nothing needs that: every
    # batch must run the fused driver, never the entries driver or counting, no kernel may be gathered (the
    # driver slides over the engine's padded volume), and the batch is sized for the fused scratch alone.
    filtered = checks.original_image(*real_ct_roi(), 2)
    n_roi = int((sitk.GetArrayFromImage(filtered.mask) == 1).sum())
    assert n_roi < COMPILED_BATCH
    assert glcm.counting_route(COMPILED, features, {}) == "fused"
    assert not glcm.needs_kernels(COMPILED, features, {})
    assert glcm.batch_cost(COMPILED, KernelShape(125, 60, 13), features, {}).max_voxels == COMPILED_BATCH
    with (
        checks.spy(glcm, "fused_features") as fused,
        checks.spy(glcm, "entries_features") as entries_driver,
        checks.spy(counting, "entries") as entries,
        checks.spy(maps, "gather_kernels") as gathered,
    ):
        out = maps._family_maps(filtered, "glcm", features, COMPILED, torch.float64, 1, None)
    assert len(fused) == 1 and entries_driver == [] and entries == [] and gathered == []
    want = fused[0][9]  # the driver's per-column "evaluate this formula" flags
    assert [name for name, col in glcm.COLUMNS.items() if want[col]] == [
        n for n in glcm.COLUMNS if n in features
    ]
    assert all(np.isfinite(out[name]).any() for name in features)


@pytest.mark.parametrize("features", [["MCC"], ALL])
def test_entries_are_counted_only_where_the_route_needs_them(features: list[str]) -> None:
    # The entries driver is for the torch backend (CUDA) and weightingNorm (angles merged into one matrix).
    batch = checks.random_volume_batch(3, 2, False, 0, (3, 4, 20), 9)
    for backend, settings, route in [
        (TORCH, {}, "entries"),
        (COMPILED, {"weightingNorm": "euclidean"}, "entries"),
        (COMPILED, {}, "fused"),
    ]:
        context = FamilyContext(spacing_zyx=(2.5, 0.8, 0.7))
        with checks.spy(glcm, "fused_features") as fused, checks.spy(glcm, "entries_features") as entries:
            glcm.compute(replace(batch, backend=backend), features, settings, context)
        assert glcm.counting_route(backend, features, settings) == route
        assert (len(fused), len(entries)) == ((1, 0) if route == "fused" else (0, 1)), (
            backend.name,
            settings,
        )


@jit
def _second(a: np.ndarray, u: np.ndarray, square: bool) -> float:  # pragma: no cover - compiled
    k = a.shape[0]
    return eigen.second_eigenvalue(a.copy(), k, u, square, np.zeros((k, k)), np.zeros(k), np.zeros(k))


def test_deflated_second_eigenvalue_is_lapacks() -> None:
    # MCC's matrices: M = D^-1/2 P D^-1/2 of random symmetric and asymmetric count tables with 2-12 levels (the
    # closed forms at 2 and 3 levels, QL beyond), incl. disconnected levels (λ₂ = 1) and a checkerboard (μ = -1)
    rng = np.random.default_rng(7)
    tables = [rng.integers(0, 4, (k, k)).astype(float) for k in range(2, 13) for _ in range(30)]
    tables += [np.kron(np.eye(2), np.ones((2, 2))), np.array([[0.0, 3.0], [3.0, 0.0]])]
    for counts in tables:
        for symmetric in (True, False):
            p = counts + counts.T if symmetric else counts
            p = p[p.sum(1) > 0][:, p.sum(0) > 0]  # the block's levels (as mcc restricts)
            if min(p.shape) < 2 or (symmetric and p.shape[0] != p.shape[1]):
                continue
            p = p / p.sum()
            px, py = p.sum(1), p.sum(0)
            m = p / np.sqrt(np.outer(px, py))
            a = m if symmetric else m @ m.T
            want = np.sort(np.linalg.eigvalsh(a) ** (2 if symmetric else 1))[-2]
            got = _second(np.ascontiguousarray(a), np.sqrt(px), symmetric)
            assert abs(got - want) <= 1e-14, (p, symmetric, got, want)
