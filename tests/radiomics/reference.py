"""Test-side harness around LIVE PyRadiomics (the reference every family is checked against).

- :func:`pyradiomics_voxel_maps` runs one PyRadiomics feature class in voxel-based mode on an image/mask pair
  exactly as PyRadiomics does (no filter; the caller crops/filters first if needed).
- :func:`reference_kernel_batch` builds our :class:`~pdacrad.radiomics.kernel.KernelBatch` for the same voxels from
  PyRadiomics' *own* discretisation (``imageoperations.binImage`` over the mask), so a family's maths can be checked
  in isolation from our discretisation code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch
from radiomics import firstorder, glcm, gldm, glrlm, glszm, imageoperations, ngtdm

from pdacrad.radiomics.kernel import KernelBatch, gather_kernels, kernel_offsets

FEATURE_CLASSES = {
    "firstorder": firstorder.RadiomicsFirstOrder,
    "glcm": glcm.RadiomicsGLCM,
    "glrlm": glrlm.RadiomicsGLRLM,
    "glszm": glszm.RadiomicsGLSZM,
    "gldm": gldm.RadiomicsGLDM,
    "ngtdm": ngtdm.RadiomicsNGTDM,
}


def pyradiomics_voxel_maps(
    image: sitk.Image,
    mask: sitk.Image,
    feature_class: str,
    features: Sequence[str] | None = None,
    **settings: Any,
) -> dict[str, np.ndarray]:
    """Voxel-based maps of one PyRadiomics feature class. Returns ``{feature: (z, y, x) float64 array}`` on the
    image grid (``initValue`` outside the mask). ``settings`` are PyRadiomics ``setting:`` keys (kernelRadius,
    binWidth, maskedKernel, distances, force2D, ...)."""
    cls = FEATURE_CLASSES[feature_class]
    extractor = cls(image, mask, voxelBased=True, **settings)
    if features is None:
        extractor.enableAllFeatures()
    else:
        for name in features:
            extractor.enableFeatureByName(name)
    result = extractor.execute()
    return {name: sitk.GetArrayFromImage(img).astype(np.float64) for name, img in result.items()}


def reference_kernel_batch(
    image: sitk.Image,
    mask: sitk.Image,
    voxels: np.ndarray | None = None,
    label: int = 1,
    dtype: torch.dtype = torch.float64,
    **settings: Any,
) -> tuple[KernelBatch, np.ndarray]:
    """Kernels of ``voxels`` (``(B, 3)`` z, y, x; default: every mask voxel, in ``np.where`` order) built from
    PyRadiomics' own binning. Returns the batch and the voxel coordinates used."""
    image_arr = sitk.GetArrayFromImage(image)
    roi = sitk.GetArrayFromImage(mask) == label
    mask_arr = roi if settings.get("maskedKernel", True) else np.ones_like(roi)
    level_idx, present = reference_levels(image, mask, label, **settings)
    if voxels is None:
        voxels = np.stack(np.where(roi), axis=1)
    offsets = kernel_offsets(
        int(settings.get("kernelRadius", 1)),
        bool(settings.get("force2D", False)),
        int(settings.get("force2Ddimension", 0)),
    )
    vox = torch.as_tensor(voxels, dtype=torch.int64)
    levels = gather_kernels(torch.as_tensor(level_idx), vox, offsets, fill=0)
    values_vol = torch.as_tensor(np.where(mask_arr, image_arr.astype(np.float64), np.nan), dtype=dtype)
    values = gather_kernels(values_vol, vox, offsets, fill=float("nan"))
    batch = KernelBatch(
        levels=levels,
        grey_levels=torch.as_tensor(present, dtype=dtype),
        offsets=offsets,
        radius=int(settings.get("kernelRadius", 1)),
        values=values,
        voxels=vox,
    )
    return batch, voxels


def reference_levels(
    image: sitk.Image, mask: sitk.Image, label: int = 1, **settings: Any
) -> tuple[np.ndarray, np.ndarray]:
    """PyRadiomics' own binning over the discretisation mask as a ``(z, y, x)`` level-index volume (``1..G`` into
    the present bins, 0 outside) and the present bin numbers."""
    image_arr = sitk.GetArrayFromImage(image)
    roi = sitk.GetArrayFromImage(mask) == label
    mask_arr = roi if settings.get("maskedKernel", True) else np.ones_like(roi)
    binned, _ = imageoperations.binImage(image_arr, mask_arr, **settings)
    present = np.unique(binned[mask_arr])
    index = np.zeros(int(binned.max()) + 1, dtype=np.int64)
    index[present] = np.arange(1, len(present) + 1)
    return np.where(mask_arr, index[binned], 0), present


def real_ct_roi(tmp_shape: tuple[int, int, int] | None = None) -> tuple[sitk.Image, sitk.Image]:
    """The real abdominal CT of tests/data cropped to its pancreas mask's bounding box plus a 3-voxel margin
    (a small real ROI for parity tests)."""
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data"
    image = sitk.ReadImage(str(data / "ts_native_abdomen_ct.nii.gz"))
    mask = sitk.ReadImage(str(data / "ts_native_abdomen_pancreas_mask.nii.gz"))
    arr = sitk.GetArrayFromImage(mask)
    zz, yy, xx = np.where(arr > 0)
    lo = np.maximum([xx.min() - 3, yy.min() - 3, zz.min() - 3], 0)
    hi = np.minimum([xx.max() + 4, yy.max() + 4, zz.max() + 4], image.GetSize())
    size = [int(h - lo_) for h, lo_ in zip(hi, lo, strict=True)]
    index = [int(v) for v in lo]
    return sitk.RegionOfInterest(image, size, index), sitk.RegionOfInterest(mask, size, index)
