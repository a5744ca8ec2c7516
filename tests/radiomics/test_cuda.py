"""The same torch code on CUDA: maps of every family equal the CPU maps (skipped without a CUDA device)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from pdacrad.radiomics import compute_maps
from pdacrad.radiomics.settings import PARAMS_DIR, load_settings
from tests.radiomics.reference import real_ct_roi
from tests.radiomics.test_engine import _sub_mask

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

EVERY_FAMILY = {
    "setting": {"binWidth": 25},
    "voxelSetting": {"kernelRadius": 2},
    "imageType": {"Original": {}},
    "featureClass": {
        "firstorder": ["Mean", "Entropy", "Median"],
        "glcm": ["Contrast", "Correlation", "Imc1", "Imc2", "JointAverage", "MCC"],
        "glrlm": ["LongRunEmphasis", "RunEntropy"],
        "glszm": ["SizeZoneNonUniformityNormalized", "ZoneEntropy"],
        "gldm": ["DependenceEntropy", "LargeDependenceEmphasis"],
        "ngtdm": ["Strength", "Busyness"],
    },
}


def _assert_close(cpu: dict[str, sitk.Image], gpu: dict[str, sitk.Image], rtol: float, atol: float) -> None:
    assert set(cpu) == set(gpu)
    for name, img in cpu.items():
        ref, got = sitk.GetArrayFromImage(img), sitk.GetArrayFromImage(gpu[name])
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=name)
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol, equal_nan=True, err_msg=name)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_family_on_cuda_equals_cpu(dtype: str) -> None:
    image, mask = real_ct_roi()
    cpu = compute_maps(image, mask, EVERY_FAMILY, device="cpu", dtype="float64")
    gpu = compute_maps(image, mask, EVERY_FAMILY, device="cuda", dtype=dtype)
    # MCC comes from an eigen-solver whose CPU and GPU LAPACKs differ at ~1e-9 (as PyRadiomics' own accuracy)
    _assert_close(
        cpu, gpu, rtol=1e-8 if dtype == "float64" else 1e-4, atol=1e-8 if dtype == "float64" else 1e-5
    )


@pytest.mark.parametrize("radius", [2, 5])
def test_paper_set_on_cuda_equals_cpu(radius: int) -> None:
    image, mask = real_ct_roi()
    mask = _sub_mask(mask, half=2)
    settings = load_settings(PARAMS_DIR / "paper_maps.yaml")
    params = settings.as_pyradiomics()
    params["voxelSetting"]["kernelRadius"] = radius
    params["pdacrad"] = {"intensityWindow": list(settings.intensity_window or ())}
    cpu = compute_maps(image, mask, params, settings.maps, device="cpu")
    gpu = compute_maps(image, mask, params, settings.maps, device="cuda")
    _assert_close(cpu, gpu, rtol=1e-9, atol=1e-12)
