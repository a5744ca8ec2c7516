"""The backend seam: one backend chosen per call, the same route for dispatch and batch sizing, and every family's
torch (CUDA) counting code run on CPU tensors with the same values as the compiled backend — asserting which code
ran on each."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics import glcm, gldm, glrlm, glszm, maps, ngtdm
from pdacrad.radiomics.backend import COMPILED_BATCH, Backend, BatchCost
from pdacrad.radiomics.counting import neighbourhood_cpu, runs_cpu, zones_cpu
from pdacrad.radiomics.family import KernelShape
from pdacrad.radiomics.maps import _family_maps
from tests.radiomics import family_checks as checks
from tests.radiomics.reference import real_ct_roi

TORCH = checks.TORCH_ON_CPU


def test_backend_choice() -> None:
    assert Backend.choose("cpu").compiled and Backend.choose("cpu").name == "compiled-cpu"
    assert not TORCH.compiled and TORCH.name == "torch-cpu"
    assert Backend.choose("cpu", workers=3).workers == 3
    with pytest.raises(InvalidInputError, match="CPU only"):
        Backend.choose("cuda", compiled=True)
    assert not Backend.choose("cuda").compiled and Backend.choose("cuda").workers == 1


def test_batch_size_follows_budget_cap_and_workers() -> None:
    backend = Backend(torch.device("cpu"), compiled=True, workers=2, budget_mb=1)
    assert backend.batch_size(BatchCost(2**10), 10_000) == 2**10 // 2  # 1 MiB / 1 KiB, split over 2 workers
    assert backend.batch_size(BatchCost(8, 100), 10_000) == 50  # the family's cap
    assert backend.batch_size(BatchCost(8), 7) == 4  # a small ROI still feeds both workers


@pytest.mark.parametrize("features", [["Contrast"], ["Correlation", "Imc2"], ["Contrast", "MCC"]])
def test_glcm_dispatch_and_batch_size_agree(features: list[str]) -> None:
    # The disagreement this replaces: a map of Contrast alone took the compiled path but got cache-sized batches.
    backend = Backend.choose("cpu", workers=1)
    image, mask = real_ct_roi()
    filtered = checks.original_image(image, mask, 1)
    n_roi = int((sitk.GetArrayFromImage(filtered.mask) == 1).sum())
    sizes: list[int] = []
    original = glcm.compute

    def recording(batch, names, settings, context):  # type: ignore[no-untyped-def]
        sizes.append(batch.n_voxels)
        assert batch.backend is backend  # the one backend of the call reaches the family
        return original(batch, names, settings, context)

    glcm.compute = recording
    try:
        with checks.spy(glcm, "fused_features") as fused:
            maps = _family_maps(filtered, "glcm", features, backend, torch.float64, 1, None)
    finally:
        glcm.compute = original
    assert len(fused) == len(sizes)  # every batch took the fused compiled route
    # compiled scratch only (MCC too: its restricted matrices are per-block scratch): batches up to
    # COMPILED_BATCH, so the 644-voxel ROI is one batch
    assert glcm.batch_cost(backend, KernelShape(27, 10, 13), features, {}).max_voxels == COMPILED_BATCH
    assert sizes == [n_roi]
    assert np.isfinite(maps[features[0]]).any()


def test_glcm_route_follows_backend_and_weighting() -> None:
    compiled = Backend.choose("cpu")
    assert glcm.counting_route(compiled, ["Contrast"], {}) == "fused"
    assert glcm.counting_route(compiled, ["Contrast"], {"weightingNorm": "euclidean"}) == "entries"
    assert glcm.counting_route(TORCH, ["Contrast"], {}) == "entries"
    assert glcm.batch_cost(TORCH, KernelShape(125, 40, 13), ["Contrast"], {}).max_voxels is None


# family, counting code of the compiled backend (module, name), features
FAMILY_PATHS = [
    (glszm, (zones_cpu, "zone_list"), ["SizeZoneNonUniformityNormalized", "ZoneEntropy"]),
    (glrlm, (runs_cpu, "run_counts"), ["LongRunEmphasis", "ShortRunEmphasis"]),
    (gldm, (neighbourhood_cpu, "walk"), ["DependenceEntropy", "LargeDependenceEmphasis"]),
    (ngtdm, (neighbourhood_cpu, "walk"), ["Strength", "Busyness"]),
]


@pytest.mark.parametrize(
    ("module", "compiled_code", "features"), FAMILY_PATHS, ids=["glszm", "glrlm", "gldm", "ngtdm"]
)
def test_each_family_runs_its_torch_code_on_cpu_tensors(module, compiled_code, features) -> None:  # type: ignore[no-untyped-def]
    image, mask = real_ct_roi()
    filtered = checks.original_image(image, mask, 2)
    results = {}
    for backend in (Backend.choose("cpu", workers=1), replace(TORCH, workers=1)):
        with checks.spy(*compiled_code) as calls, checks.spy(maps, "gather_kernels") as gathered:
            results[backend.name] = _family_maps(
                filtered, module.__name__.rsplit(".", 1)[1], features, backend, torch.float64, 1, None
            )
        assert bool(calls) == backend.compiled, backend.name
        # the compiled counting reads the engine's padded level volume; the torch path gathers the kernels
        assert bool(gathered) != backend.compiled, backend.name
    # NGTDM's compiled s_i is exact (one rounding); torch rounds each cell's mean: a few ulps apart
    rtol = 1e-12 if module is ngtdm else 0.0
    for name in features:
        compiled, torch_values = results["compiled-cpu"][name], results["torch-cpu"][name]
        np.testing.assert_allclose(compiled, torch_values, rtol=rtol, atol=0, err_msg=name)
        assert np.nanstd(results["compiled-cpu"][name]) > 0, name


def test_numba_cache_goes_to_a_writable_per_user_dir(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from pdacrad.radiomics import _jit

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(_jit, "_writable", lambda path: str(path).startswith(str(tmp_path / "home")))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home"))
    assert _jit.cache_dir() == tmp_path / "home" / "pdacrad" / "numba"  # the package dir is read-only
    monkeypatch.setattr(_jit, "_writable", lambda path: False)
    assert "pdacrad-numba-" in str(_jit.cache_dir())  # nothing writable but the temp dir
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert _jit.cache_dir() is None  # the user's choice stands


def test_a_shipped_cache_seeds_an_empty_cache_dir_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container's build-time kernels (PDACRAD_NUMBA_CACHE_SEED) are copied into a fresh, empty cache directory,
    never over a cache that already holds something."""
    from pdacrad.radiomics import _jit

    seed = tmp_path / "seed" / "opt" / "pkg"
    seed.mkdir(parents=True)
    (seed / "kernel.nbi").write_bytes(b"index")
    monkeypatch.setenv(_jit.SEED_ENV, str(tmp_path / "seed"))
    target = tmp_path / "cache"
    assert _jit.seed_cache(target) and (target / "opt" / "pkg" / "kernel.nbi").read_bytes() == b"index"
    (seed / "kernel.nbi").write_bytes(b"newer")
    assert not _jit.seed_cache(target)  # the cache has content: left as it is
    assert (target / "opt" / "pkg" / "kernel.nbi").read_bytes() == b"index"
    monkeypatch.setenv(_jit.SEED_ENV, str(tmp_path / "missing"))
    assert not _jit.seed_cache(tmp_path / "other")


def test_ngtdm_pair_features_get_cache_sized_batches_on_cpu() -> None:
    # NGTDM's pair features hold (B, G, G) tensors: on CPU their batches shrink to stay in cache as G grows (the
    # paper's filtered images have few levels and keep full batches); Coarseness alone needs no pairs
    compiled = Backend.choose("cpu", workers=1)
    few = ngtdm.batch_cost(compiled, KernelShape(1331, 10, 13), ["Strength"], {})
    many = ngtdm.batch_cost(compiled, KernelShape(1331, 120, 13), ["Strength", "Coarseness"], {})
    alone = ngtdm.batch_cost(compiled, KernelShape(1331, 120, 13), ["Coarseness"], {})
    assert few.max_voxels == alone.max_voxels == COMPILED_BATCH
    assert many.max_voxels is not None and 32 <= many.max_voxels < 256
    assert many.bytes_per_voxel > alone.bytes_per_voxel + 8 * 120 * 120
    on_gpu = Backend(torch.device("cuda"), compiled=False)
    assert ngtdm.batch_cost(on_gpu, KernelShape(1331, 120, 13), ["Strength"], {}).max_voxels is None
