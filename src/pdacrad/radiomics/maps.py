"""Voxel-wise parametric maps: PyRadiomics voxel-based extraction, batched in torch, in the input's geometry.

Pipeline per case (same steps as ``RadiomicsFeatureExtractor.execute(..., voxelBased=True)``): prepare the case
(:mod:`pdacrad.radiomics.filters`), for each image type crop to the ROI's bounding box + ``kernelRadius``,
discretise once over ``maskArray`` (:mod:`pdacrad.radiomics.discretise`), then for each feature family (a module
implementing :class:`~pdacrad.radiomics.family.FeatureFamily`) let it ``prepare`` the image, gather the kernels of
the ROI voxels in batches sized by the call's backend (:mod:`pdacrad.radiomics.backend`) from the family's
``batch_cost`` and hand them to its ``compute`` with one :class:`~pdacrad.radiomics.family.FamilyContext`. Maps are
written back into the *input* image's grid (size, spacing, origin, direction); voxels outside the ROI hold
``initValue``. When the settings resample the image, maps are brought back with nearest-neighbour interpolation
(values stay PyRadiomics values; no mixing with ``initValue`` at the ROI border).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch
from tqdm import tqdm

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics import firstorder, glcm, gldm, glrlm, glszm, ngtdm
from pdacrad.radiomics.backend import Backend
from pdacrad.radiomics.discretise import discretise
from pdacrad.radiomics.family import (
    DiscretisedImage,
    FamilyContext,
    FeatureFamily,
    KernelShape,
    checked_families,
)
from pdacrad.radiomics.filters import FilteredImage, image_type_of, iter_image_types, prepare
from pdacrad.radiomics.kernel import KernelBatch, gather_kernels, pad_volume, settings_offsets
from pdacrad.radiomics.settings import RadiomicsSettings, coerce_settings

logger = logging.getLogger(__name__)

FAMILY_MODULES = checked_families(
    {
        "firstorder": firstorder,
        "glcm": glcm,
        "glrlm": glrlm,
        "glszm": glszm,
        "gldm": gldm,
        "ngtdm": ngtdm,
    }
)
"""Feature classes that have a voxel-wise implementation (PyRadiomics' names) → their family module, each checked
against the family contract (:class:`~pdacrad.radiomics.family.FeatureFamily`) by mypy and when the engine is
imported."""

FAMILIES = tuple(FAMILY_MODULES)
"""The voxel-wise feature classes, in the order the engine runs them."""


@dataclass(frozen=True)
class FeatureName:
    """``<imageType>_<featureClass>_<Feature>`` split into its parts (PyRadiomics naming)."""

    image: str
    family: str
    feature: str

    @classmethod
    def parse(cls, name: str) -> FeatureName:
        parts = name.split("_")
        if len(parts) != 3 or not all(parts):
            raise InvalidInputError(
                f"feature name {name!r} is not <imageType>_<featureClass>_<Feature> (e.g. original_glcm_Contrast)"
            )
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.image}_{self.family}_{self.feature}"


def load_family(family: str) -> FeatureFamily:
    """The module implementing ``family``; :class:`InvalidInputError` naming it if there is none."""
    if family == "shape" or family == "shape2D":
        raise InvalidInputError(f"feature class {family!r} has no voxel-based form (PyRadiomics neither)")
    if family not in FAMILY_MODULES:
        raise InvalidInputError(f"unknown feature class {family!r}; voxel-wise classes are {list(FAMILIES)}")
    return FAMILY_MODULES[family]


def resolve_device(device: str | torch.device) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cuda`` without a GPU → :class:`InvalidInputError`."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidInputError(
            "device 'cuda' requested but no CUDA GPU is available; use --device cpu or auto"
        )
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise InvalidInputError(f"device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``float64`` (reference, PyRadiomics parity) or ``float32`` (fast path)."""
    table = {"float64": torch.float64, "float32": torch.float32, torch.float64: torch.float64}
    table[torch.float32] = torch.float32
    if dtype not in table:
        raise InvalidInputError(f"dtype must be float64 or float32, got {dtype!r}")
    return table[dtype]


def _default_features(settings: RadiomicsSettings, image_names: Sequence[str]) -> list[FeatureName]:
    classes = dict(settings.feature_classes) or dict.fromkeys(FAMILIES)
    out = []
    for image in image_names:
        for family, names in classes.items():
            if family.startswith("shape"):
                continue
            module = load_family(family)
            for feature in names or list(module.FEATURES):
                out.append(FeatureName(image, family, feature))
    return out


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op threads to ``n`` (``None``: leave as is)."""
    if n is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _family_maps(
    filtered: FilteredImage,
    family: str,
    features: list[str],
    backend: Backend,
    dtype: torch.dtype,
    label: int,
    batch_size: int | None,
) -> dict[str, np.ndarray]:
    """Maps of one family on one cropped image type: ``{feature: (z, y, x) float64 array on the crop grid}``,
    counted by ``backend`` in batches it sizes from the family's :func:`batch_cost` (or ``batch_size`` voxels)."""
    module = load_family(family)
    device = backend.device
    cfg = filtered.settings  # the user's settings of this image type: read, never written
    image = sitk.GetArrayFromImage(filtered.image)
    roi = sitk.GetArrayFromImage(filtered.mask) == label
    mask_array = roi if cfg.get("maskedKernel", True) else np.ones_like(roi)
    disc = discretise(image, mask_array, cfg)
    radius = int(cfg.get("kernelRadius", 1))
    offsets = settings_offsets(radius, cfg, device)
    level_volume = torch.as_tensor(disc.level_index, device=device)
    spacing = tuple(float(s) for s in filtered.image.GetSpacing()[::-1])
    assert len(spacing) == 3, "the engine core works on 3-D images"
    grey = torch.as_tensor(disc.grey_levels, device=device).to(dtype)
    roi_t = torch.as_tensor(roi, device=device)
    discretised = DiscretisedImage(level_volume, roi_t, grey, radius, (spacing[0], spacing[1], spacing[2]))
    context = FamilyContext(discretised.spacing_zyx, module.prepare(discretised, features, cfg, backend))
    value_volume = None
    if module.READS_VALUES:
        value_volume = torch.as_tensor(np.where(mask_array, image.astype(np.float64), np.nan), device=device)
        value_volume = value_volume.to(dtype)
    voxels = torch.as_tensor(np.stack(np.nonzero(roi), axis=1), device=device)
    n_angles = sum(((2 * d + 1) ** 3 - (2 * d - 1) ** 3) // 2 for d in cfg.get("distances", [1]) or [1])
    cost = module.batch_cost(backend, KernelShape(len(offsets), len(grey), n_angles), features, cfg)
    size = batch_size or backend.batch_size(cost, len(voxels))
    workers = backend.workers

    # Padded once here, not per batch: a batch then gathers its kernels without copying the volume.
    levels_padded = pad_volume(level_volume, radius, 0)
    values_padded = None if value_volume is None else pad_volume(value_volume, radius, math.nan)

    # Families whose compiled counting reads the padded volume itself (the matrix families, GLCM's MCC included)
    # gather nothing.
    gathers = module.needs_kernels(backend, features, cfg)

    def run(start: int) -> dict[str, torch.Tensor]:
        vox = voxels[start : start + size]
        batch = KernelBatch(
            levels=gather_kernels(levels_padded, vox, offsets, padded_by=radius)
            if gathers
            else torch.zeros((len(vox), 0), dtype=torch.int64, device=device),
            grey_levels=grey,
            offsets=offsets,
            radius=radius,
            values=None
            if values_padded is None
            else gather_kernels(values_padded, vox, offsets, padded_by=radius),
            voxels=vox,
            backend=backend,
            volume=levels_padded,
        )
        values = module.compute(batch, features, cfg, context)
        return {name: v.to("cpu", torch.float64) for name, v in values.items()}

    starts = list(range(0, len(voxels), size))
    if workers == 1:  # inline: no thread hand-off (and profilers see the work)
        parts = [run(start) for start in starts]
    else:
        with _torch_threads(1), ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(run, starts))
    results = {name: [part[name] for part in parts] for name in features}
    init = float(cfg.get("initValue", 0))
    where = tuple(voxels.cpu().numpy().T)
    out = {}
    for name, chunks in results.items():
        arr = np.full(roi.shape, init, dtype=np.float64)
        arr[where] = torch.cat(chunks).numpy() if chunks else np.empty(0)
        out[name] = arr
    return out


def _to_input_geometry(arr: np.ndarray, crop: sitk.Image, reference: sitk.Image, init: float) -> sitk.Image:
    """Place a crop-grid map into ``reference``'s grid: exact index paste when the grids align (no resampling),
    nearest-neighbour resampling otherwise. Outside the crop: ``init``."""
    crop_map = sitk.GetImageFromArray(arr)
    crop_map.CopyInformation(crop)
    aligned = np.allclose(crop.GetSpacing(), reference.GetSpacing()) and np.allclose(
        crop.GetDirection(), reference.GetDirection()
    )
    if aligned:
        start = np.array(reference.TransformPhysicalPointToContinuousIndex(crop.GetOrigin()))
        if np.allclose(start, np.round(start), atol=1e-3):
            begin = np.round(start).astype(int)[::-1]  # (z, y, x)
            full = np.full(sitk.GetArrayViewFromImage(reference).shape, init, dtype=np.float64)
            lo = np.maximum(begin, 0)
            hi = np.minimum(begin + np.array(arr.shape), full.shape)
            src = tuple(slice(a - b, c - b) for a, b, c in zip(lo, begin, hi, strict=True))
            full[tuple(slice(a, c) for a, c in zip(lo, hi, strict=True))] = arr[src]
            out = sitk.GetImageFromArray(full)
            out.CopyInformation(reference)
            return out
    return sitk.Resample(
        crop_map, reference, sitk.Transform(), sitk.sitkNearestNeighbor, init, sitk.sitkFloat64
    )


def requested_features(settings: RadiomicsSettings, features: Sequence[str] | None) -> list[FeatureName]:
    """The feature names a :func:`compute_maps` call asks for (``features``, else the params file's ``pdacrad:
    maps:`` list; empty: every enabled feature), checked without an image: :class:`InvalidInputError` for a
    malformed name, an image type the params file does not enable, or a feature no family defines."""
    requested = [FeatureName.parse(f) for f in (features or settings.maps)]
    missing = {image_type_of(f.image) for f in requested} - set(settings.image_types)
    if missing:
        raise InvalidInputError(
            f"image type(s) {sorted(missing)} requested but not enabled in the params file"
        )
    for f in requested:
        if f.feature not in load_family(f.family).FEATURES:
            raise InvalidInputError(f"unknown {f.family} feature {f.feature!r} in {f}")
    return requested


def compute_maps(
    image: sitk.Image,
    mask: sitk.Image,
    settings: RadiomicsSettings | Mapping[str, Any] | str | None = None,
    features: Sequence[str] | None = None,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "float64",
    label: int = 1,
    batch_size: int | None = None,
) -> dict[str, sitk.Image]:
    """Voxel-wise PyRadiomics feature maps of ``image`` inside ``mask == label``.

    Args:
        image: the image (e.g. CT in HU), any geometry.
        mask: label map on the image's grid.
        settings: a :class:`RadiomicsSettings`, a params mapping, a params YAML path, or ``None`` (defaults).
        features: PyRadiomics feature names ``<imageType>_<featureClass>_<Feature>``; default the params file's
            ``pdacrad: maps:`` list, else every feature of every enabled image type and feature class.
        device: ``auto``, ``cpu`` or ``cuda``.
        dtype: ``float64`` (PyRadiomics parity) or ``float32`` (faster, ~1e-4 relative).
        label: the ROI's label value in ``mask``.
        batch_size: voxels per batch; default sized by the backend from each family's cost
            (:meth:`~pdacrad.radiomics.backend.Backend.batch_size`). Results do not depend on it.

    Returns:
        ``{feature name: map}``, each map float64 (or float32 with ``dtype="float32"``) on ``image``'s grid, with
        ``initValue`` outside the ROI.
    """
    cfg = coerce_settings(settings)
    backend = Backend.choose(resolve_device(device))
    tdtype = resolve_dtype(dtype)
    requested = requested_features(cfg, features)
    needed_types = {image_type_of(f.image) for f in requested}
    types = {k: dict(v) for k, v in cfg.image_types.items() if not requested or k in needed_types}
    case = prepare(image, mask, cfg, label)
    init = float(cfg.voxel_setting.get("initValue", 0))
    maps: dict[str, sitk.Image] = {}
    produced: set[str] = set()
    for filtered in iter_image_types(case, types):
        produced.add(filtered.name)
        wanted = [f for f in requested if f.image == filtered.name] if requested else None
        if wanted is None:
            wanted = _default_features(cfg, [filtered.name])
        by_family: dict[str, list[str]] = {}
        for f in wanted:
            by_family.setdefault(f.family, []).append(f.feature)
        for family, names in tqdm(by_family.items(), desc=filtered.name, unit="family", leave=False):
            arrays = _family_maps(filtered, family, names, backend, tdtype, label, batch_size)
            for feature, arr in arrays.items():
                img = _to_input_geometry(arr, filtered.image, image, init)
                if tdtype == torch.float32:
                    img = sitk.Cast(img, sitk.sitkFloat32)
                maps[f"{filtered.name}_{family}_{feature}"] = img
    not_made = [str(f) for f in requested if f.image not in produced]
    if not_made:
        raise InvalidInputError(f"no image type of the params file produces {not_made}; check their settings")
    return maps
