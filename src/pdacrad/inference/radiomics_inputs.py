"""Stage-2 inputs of the radiomics-enhanced model: parametric-map channels on the ROI and the z-scored global
vector, computed the same way at training (``pdacrad-train maps``) and at inference.

Contract between ``resources/radiomics.json`` and the Stage-2 model folder (checked once, at start-up, by
:mod:`pdacrad.model.checks`):

* input channels = CT + one channel per ``map_features`` entry, in that order; ``dataset.json`` ``channel_names``
  are ``{"0": "CT", "1": <map feature 1>, ...}``. The map channels are normalised with fixed per-feature
  statistics, ``radiomics.json`` ``map_scaler`` (:mod:`pdacrad.model.map_scaler`: clip to the 0.5/99.5 percentiles
  and z-score with the clipped mean and std of the in-mask values of the fold's training cases; 0 outside the map
  mask), by :func:`normalise_map_channels` — at inference here and in the training tree's map datasets — and the
  model's plans say ``NoNormalization`` for them, so nnU-Net leaves them as they are. A voxel's input then
  depends on its map value only. (nnU-Net's default for a channel with a feature's name, a per-case z-score over
  the whole ROI, made in-mask values scale with the mask-to-ROI volume fraction, ~90 % of a ROI being the constant
  ``initValue``, so the same map got other inputs in a training ROI cut around the ground-truth pancreas and an
  inference ROI cut around the Stage-1 one.) A ``radiomics.json`` without ``map_scaler`` (models trained before
  it) feeds the raw maps, which that model's plans z-score per case, as it was trained;
* the global vector = ``global_features`` in that order, equal to the plans' ``pdacrad_radiomics`` block (or,
  with per-fold feature selection, to the fold's ``global_vectors.json``);
* ``radiomics.json`` ``inputs`` says which of the two the model takes (variants base, maps, global, both).

Pancreas rule (:func:`radiomics_pancreas`, ``preprocessing.pancreas``): the largest 26-connected component of the
Stage-1 mask (Stage-1 prediction at inference; out-of-fold Stage-1 prediction at training) is the pancreas of the
global features and of the map mask. Map mask (:func:`map_mask`): that pancreas dilated by
``preprocessing.map_mask_dilation_mm`` (default :data:`MAP_MASK_DILATION_MM`) so that the maps also cover the
pancreas rim, where tumours bulge out of the parenchyma. Outside it the maps hold ``initValue``.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from pdacrad.errors import ResourceError
from pdacrad.model.radiomics_spec import MAP_MASK_DILATION_MM, ModelInputs, Preprocessing, RadiomicsSpec
from pdacrad.preprocessing.roi import largest_component

logger = logging.getLogger(__name__)
#: Precision of the parametric maps: the float64 reference, what the models were trained on. (The reason once given
#: against float32, torch's batched eigen solve for GLCM MCC failing on some demo kernels, is gone: MCC is now a
#: compiled float64 formula on every route. float32 maps would change the model's inputs, so the choice stays.)
MAP_DTYPE = "float64"


def radiomics_pancreas(stage1_mask: sitk.Image, preprocessing: Preprocessing = Preprocessing()) -> sitk.Image:
    """The pancreas of the global features and of the map mask, from a Stage-1 mask (non-zero = pancreas) by the
    rule ``preprocessing.pancreas`` — today always its largest connected component. The training tree (global
    features and maps of out-of-fold Stage-1 masks) and inference call this same function. uint8 0/1, same grid."""
    if preprocessing.pancreas != "largest_component":  # Preprocessing validates the name; one rule exists
        raise ResourceError(f"unknown pancreas rule {preprocessing.pancreas!r}")
    return largest_component(sitk.Cast(stage1_mask != 0, sitk.sitkUInt8))


def map_mask(pancreas: sitk.Image, dilation_mm: float = MAP_MASK_DILATION_MM) -> sitk.Image:
    """The mask inside which maps are computed: the largest component of ``pancreas`` (non-zero voxels; the same
    26-connected rule as :func:`radiomics_pancreas`, so a pancreas that already is its output passes unchanged),
    dilated by a box of ``dilation_mm`` mm in every physical direction (radius rounded to whole voxels per axis).

    Returns a uint8 0/1 image on ``pancreas``' grid; all zero when ``pancreas`` is.
    """
    largest = largest_component(pancreas)
    radius = [round(dilation_mm / s) for s in pancreas.GetSpacing()]
    if not any(radius) or not sitk.GetArrayViewFromImage(largest).any():
        return largest
    return sitk.BinaryDilate(largest, radius, sitk.sitkBox, 0, 1)


def on_grid(mask: sitk.Image, reference: sitk.Image) -> sitk.Image:
    """``mask`` brought onto ``reference``'s grid by nearest neighbour (exact when ``reference`` is a crop of
    ``mask``'s grid, e.g. the Stage-2 ROI of a full-image Stage-1 mask); uint8, 0 outside ``mask``."""
    return sitk.Resample(mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


def compute_map_channels(
    ct_roi: sitk.Image,
    mask: sitk.Image,
    spec: RadiomicsSpec,
    device: str = "auto",
    dtype: str = MAP_DTYPE,
) -> list[np.ndarray]:
    """The parametric maps of ``spec.map_features`` on ``ct_roi`` inside ``mask`` (already the :func:`map_mask`),
    computed on ``device`` in ``dtype`` (the models' :data:`MAP_DTYPE` unless a caller asks otherwise) and
    returned as float32 numpy arrays (z, y, x) on ``ct_roi``'s grid, in ``spec.map_features`` order. An empty
    mask gives maps of ``initValue`` and computes nothing."""
    init = float(dict(spec.map_params.get("voxelSetting") or {}).get("initValue", 0.0))
    shape = sitk.GetArrayViewFromImage(ct_roi).shape
    if not spec.map_features:
        return []
    if not sitk.GetArrayViewFromImage(mask).any():
        logger.warning("empty map mask: the %d map channel(s) are initValue %g", len(spec.map_features), init)
        return [np.full(shape, init, np.float32) for _ in spec.map_features]
    from pdacrad.radiomics import compute_maps

    label = int(dict(spec.map_params.get("setting") or {}).get("label", 1))
    mask = sitk.Cast(mask != 0, sitk.sitkUInt8) * label
    with _quiet_pyradiomics():  # its image operations (filters, resampling) log per call
        maps = compute_maps(
            ct_roi, mask, dict(spec.map_params), list(spec.map_features), device, dtype, label=label
        )
    return [sitk.GetArrayFromImage(maps[name]).astype(np.float32, copy=False) for name in spec.map_features]


def normalise_map_channels(
    maps: Sequence[np.ndarray], mask: sitk.Image | np.ndarray, spec: RadiomicsSpec
) -> list[np.ndarray]:
    """The map channels as the Stage-2 model takes them: with ``spec.map_scaler``, normalised by it inside
    ``mask`` (the :func:`map_mask` the maps were computed in, same (z, y, x) shape) and
    :data:`~pdacrad.model.map_scaler.OUTSIDE_VALUE` outside; without one, ``maps`` unchanged (the model's plans
    z-score them). The training tree's map datasets and inference both call this. float32 arrays."""
    if spec.map_scaler is None:
        return [np.asarray(m, dtype=np.float32) for m in maps]
    array = sitk.GetArrayViewFromImage(mask) if isinstance(mask, sitk.Image) else np.asarray(mask)
    return spec.map_scaler.apply(maps, array)


def compute_global_features(ct: sitk.Image, pancreas: sitk.Image, spec: RadiomicsSpec) -> dict[str, float]:
    """``spec.global_features`` of the whole pancreas (non-zero voxels of ``pancreas``, on ``ct``'s grid):
    ``{name: value}`` in feature units. PyRadiomics runs ``spec.params`` pruned to those features
    (:func:`pdacrad.radiomics.subset.params_for_features`: only their image types, LoG sigmas, classes and
    features), which gives the values of the whole params file at a fraction of its cost.

    Raises:
        InvalidInputError: ``spec.params`` does not compute a global feature (named), or the pancreas is not a
            usable ROI.
    """
    from pdacrad.radiomics import compute_features
    from pdacrad.radiomics.subset import params_for_features

    label = int(dict(spec.params.get("setting") or {}).get("label", 1))
    mask = sitk.Cast(pancreas != 0, sitk.sitkUInt8) * label
    params = params_for_features(spec.params, spec.global_features)
    with _quiet_pyradiomics():
        features = compute_features(ct, mask, params, label=label)
    return {name: features[name] for name in spec.global_features if name in features}


def compute_global_vector(
    ct: sitk.Image,
    pancreas: sitk.Image,
    spec: RadiomicsSpec,
    features: Mapping[str, float] | None = None,
) -> np.ndarray:
    """``spec.global_features`` of the whole pancreas (:func:`compute_global_features`), z-scored with the stored
    scaler: float32 ``(F,)``. ``features``: the case's features already computed with ``spec.params`` on this
    pancreas (e.g. the training tree's ``global-features`` cache; extra names ignored), used instead of computing
    them. A feature that is non-finite (PyRadiomics' NaN; ``None`` in a cache) becomes 0 (the training mean), as
    in the training tree's ``select``."""
    if features is None:
        features = compute_global_features(ct, pancreas, spec)
    else:
        features = {k: math.nan if v is None else float(v) for k, v in features.items()}
    vector = spec.zscore(features)
    bad = [n for n, v in zip(spec.global_features, vector, strict=True) if not math.isfinite(float(v))]
    if bad:
        logger.warning("global feature(s) %s not finite on this pancreas: set to the training mean", bad)
    return np.where(np.isfinite(vector), vector, 0.0).astype(np.float32)


def base_spec() -> RadiomicsSpec:
    """The ``radiomics.json`` of a package without one: a plain CT model (variant ``base``), default
    preprocessing."""
    return RadiomicsSpec(params={}, global_features=(), mean=(), std=(), inputs=ModelInputs(False, False))


@dataclass(frozen=True)
class RadiomicsStage2:
    """The radiomics inputs of one Stage-2 model, as ``radiomics.json`` says (``spec.inputs``; the map mask
    dilation of ``spec.preprocessing``).

    Attributes:
        spec: ``radiomics.json``.
        device: where maps are computed (``auto``, ``cpu``, ``cuda``).
    """

    spec: RadiomicsSpec
    device: str = "auto"

    def inputs(
        self,
        ct: sitk.Image,
        pancreas: sitk.Image,
        ct_roi: sitk.Image,
        global_features: Mapping[str, float] | None = None,
        maps: Sequence[np.ndarray] | None = None,
    ) -> tuple[np.ndarray | None, list[np.ndarray]]:
        """``(global vector (F,) or None, map channels)`` of one case, each only if the model takes it. ``ct`` and
        ``pancreas`` (:func:`radiomics_pancreas`, uint8) on the full image grid; ``ct_roi`` the Stage-2 crop of
        ``ct``; ``global_features`` as in :func:`compute_global_vector` (``None``: computed). ``maps``: the raw
        maps :func:`compute_map_channels` gives for this ROI and pancreas (the training tree computes them on its
        cluster), used instead of computing them. The map channels are normalised by
        :func:`normalise_map_channels` (raw without ``map_scaler``).

        Raises:
            ValueError: ``maps`` are not one (z, y, x) array of ``ct_roi``'s shape per map feature.
        """
        vector = (
            compute_global_vector(ct, pancreas, self.spec, global_features)
            if self.spec.inputs.global_vector
            else None
        )
        if not self.spec.inputs.maps:
            return vector, []
        mask = map_mask(on_grid(pancreas, ct_roi), self.spec.preprocessing.map_mask_dilation_mm)
        if maps is None:
            maps = compute_map_channels(ct_roi, mask, self.spec, self.device)
        shape = sitk.GetArrayViewFromImage(ct_roi).shape
        if len(maps) != len(self.spec.map_features) or any(np.shape(m) != shape for m in maps):
            raise ValueError(
                f"{len(maps)} map(s) of shape(s) {sorted({np.shape(m) for m in maps})} given for "
                f"{len(self.spec.map_features)} map feature(s) on a ROI of shape {shape} (z, y, x)"
            )
        return vector, normalise_map_channels(maps, mask, self.spec)


@contextlib.contextmanager
def _quiet_pyradiomics() -> Iterator[None]:
    """PyRadiomics logs the same notes about its settings for every case (e.g. "GLCM is symmetrical, therefore
    Sum Average = 2 * Joint Average"); they say nothing about the case, so keep only its errors meanwhile."""
    import radiomics  # noqa: F401  # its import sets its logger to INFO: import first, then quiet it

    log = logging.getLogger("radiomics")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


__all__: Sequence[str] = (
    "MAP_DTYPE",
    "MAP_MASK_DILATION_MM",
    "RadiomicsStage2",
    "base_spec",
    "compute_global_features",
    "compute_global_vector",
    "compute_map_channels",
    "map_mask",
    "normalise_map_channels",
    "on_grid",
    "radiomics_pancreas",
)
