"""Fixed per-feature normalisation of the Stage-2 map channels (``radiomics.json`` ``map_scaler``).

Why fixed statistics: nnU-Net's default for a channel named after a feature is a per-case z-score over the whole
ROI crop; ~90 % of a ROI is the constant ``initValue`` outside the dilated pancreas, so the in-mask values of a
case scale with its mask-to-ROI volume fraction — and the training ROI (cut around the ground-truth pancreas) and
the inference ROI (cut around the Stage-1 pancreas) give the same map different values. With a :class:`MapScaler`
the value a voxel gets depends on its map value only.

The scheme is nnU-Net's ``CTNormalization`` applied to each map feature inside the map mask: per feature, the
0.5 and 99.5 percentiles of the in-mask values of the fold's training cases (PyRadiomics maps have heavy tails,
e.g. ``ClusterProminence``; the percentiles keep a few extreme kernels from setting the scale), and the mean and
standard deviation of the values clipped to them. A voxel inside the map mask becomes
``(clip(x, lower, upper) - mean) / std``; outside the mask (where the maps hold ``initValue``) it is
:data:`OUTSIDE_VALUE` = 0, which is also what nnU-Net pads image channels with (spatial augmentation border,
sliding-window padding) and ≈ the in-mask mean, so the mask border adds no contrast of its own. A non-finite map
value inside the mask also becomes 0.

The training tree fits a scaler per selection (``pdacrad-train maps``) and writes normalised channels into the map
dataset, whose plans then say ``NoNormalization`` for the map channels (:func:`with_fixed_map_normalisation`);
inference applies :meth:`MapScaler.apply` to the maps it computes. A ``radiomics.json`` without ``map_scaler``
(models trained before it existed) feeds raw maps, which such a model's plans z-score per case as before.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pdacrad.errors import InvalidInputError, ResourceError

#: Normalised value of every voxel outside the map mask (and of non-finite map values inside it).
OUTSIDE_VALUE = 0.0
#: Percentiles of the in-mask values that bound each feature (nnU-Net's CTNormalization uses the same).
CLIP_PERCENTILES = (0.5, 99.5)
#: nnU-Net's name of the normalisation that leaves a channel as it is (``NoNormalization``; the channel name
#: ``noNorm`` selects it at planning). Plans of a model fed by a :class:`MapScaler` carry it for channels 1..N.
NO_NORMALIZATION = "NoNormalization"
_KEYS = ("lower", "upper", "mean", "std")


@dataclass(frozen=True)
class MapScaler:
    """Per map feature (in ``map_features`` order): clip bounds and mean / standard deviation of the clipped
    in-mask values over the training cases, in the feature's units.

    Raises:
        ResourceError: lengths differ, a value is not finite, ``lower > upper`` or a std is not > 0.
    """

    lower: tuple[float, ...]
    upper: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        for name in _KEYS:
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        if len({len(getattr(self, name)) for name in _KEYS}) != 1:
            raise ResourceError(
                "map_scaler: lower, upper, mean and std must have one value per map feature; got lengths "
                + ", ".join(f"{name} {len(getattr(self, name))}" for name in _KEYS)
                + "."
            )
        for i, (lo, hi, m, s) in enumerate(zip(self.lower, self.upper, self.mean, self.std, strict=True)):
            if not all(math.isfinite(v) for v in (lo, hi, m, s)) or lo > hi or s <= 0:
                raise ResourceError(
                    f"map_scaler of map feature {i}: lower={lo}, upper={hi}, mean={m}, std={s}; need finite "
                    "values, lower ≤ upper and std > 0."
                )

    def __len__(self) -> int:
        return len(self.mean)

    @classmethod
    def fit(cls, samples: Sequence[np.ndarray]) -> MapScaler:
        """Fit one feature per entry of ``samples`` (1-D in-mask values of that feature, pooled over the training
        cases; non-finite values ignored). A feature whose clipped values are constant gets std 1 (its channel is
        then 0 wherever the value is the constant).

        Raises:
            InvalidInputError: a feature has no finite sample (no training case had a map-mask voxel).
        """
        columns: tuple[list[float], list[float], list[float], list[float]] = ([], [], [], [])
        for i, values in enumerate(samples):
            values = np.asarray(values, dtype=np.float64).ravel()
            values = values[np.isfinite(values)]
            if values.size == 0:
                raise InvalidInputError(
                    f"map feature {i}: no finite in-mask value in the training cases; cannot fit its scaler."
                )
            lower, upper = (float(v) for v in np.percentile(values, CLIP_PERCENTILES))
            clipped = np.clip(values, lower, upper)
            std = float(clipped.std())
            row = (lower, upper, float(clipped.mean()), std if std > 1e-8 * max(1.0, abs(upper)) else 1.0)
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        return cls(*(tuple(column) for column in columns))

    def apply(self, maps: Sequence[np.ndarray], mask: np.ndarray) -> list[np.ndarray]:
        """The normalised channels: ``maps`` (one array per feature, any shape, e.g. (z, y, x)) and ``mask`` (same
        shape; non-zero = map mask) → float32 arrays, ``(clip(x, lower, upper) - mean) / std`` inside the mask,
        :data:`OUTSIDE_VALUE` outside it and where ``x`` is not finite.

        Raises:
            InvalidInputError: the number of maps differs from the scaler's features, or a shape from the mask's.
        """
        if len(maps) != len(self):
            raise InvalidInputError(
                f"map_scaler has {len(self)} feature(s) but {len(maps)} map(s) were given."
            )
        inside = np.asarray(mask) != 0
        out = []
        for i, array in enumerate(maps):
            array = np.asarray(array, dtype=np.float64)
            if array.shape != inside.shape:
                raise InvalidInputError(f"map {i} has shape {array.shape}, the map mask {inside.shape}.")
            scaled = (np.clip(array, self.lower[i], self.upper[i]) - self.mean[i]) / self.std[i]
            keep = inside & np.isfinite(array)
            out.append(np.where(keep, scaled, OUTSIDE_VALUE).astype(np.float32))
        return out

    def to_dict(self) -> dict[str, list[float]]:
        return {name: list(getattr(self, name)) for name in _KEYS}

    @classmethod
    def from_dict(cls, data: Any, where: str = "map_scaler") -> MapScaler:
        """Build from ``{"lower": [...], "upper": [...], "mean": [...], "std": [...]}``.

        Raises:
            ResourceError: naming ``where``, for another shape or invalid values.
        """
        if not isinstance(data, Mapping) or set(data) != set(_KEYS):
            raise ResourceError(f"{where}: expected an object with lists {', '.join(_KEYS)}.")
        if not all(isinstance(data[k], list) for k in _KEYS):
            raise ResourceError(f"{where}: {', '.join(_KEYS)} must be lists of numbers.")
        try:
            return cls(*(tuple(float(v) for v in data[k]) for k in _KEYS))
        except ResourceError as error:
            raise ResourceError(f"{where}: {error}") from None
        except (TypeError, ValueError) as error:
            raise ResourceError(f"{where}: values must be numbers ({error}).") from None


def with_fixed_map_normalisation(plans: Mapping[str, Any], n_maps: int) -> dict[str, Any]:
    """A copy of nnU-Net ``plans`` whose every configuration normalises input channels 1..``n_maps`` with
    :data:`NO_NORMALIZATION` (and no mask), for map channels already normalised by a :class:`MapScaler`; channel
    0 (the CT) keeps its scheme. nnU-Net's preprocessor (training) and ``nnUNetPredictor`` (inference) read these
    lists only, so the channel names stay the feature names.

    Raises:
        InvalidInputError: a configuration lists another number of channels than 1 + ``n_maps``.
    """
    plans_copy: dict[str, Any] = copy.deepcopy(dict(plans))
    plans = plans_copy
    for name, conf in plans.get("configurations", {}).items():
        if "normalization_schemes" not in conf:  # inherits from another configuration
            continue
        schemes, masks = list(conf["normalization_schemes"]), list(conf["use_mask_for_norm"])
        if len(schemes) != 1 + n_maps or len(masks) != 1 + n_maps:
            raise InvalidInputError(
                f"plans configuration {name} has {len(schemes)} input channel(s), expected CT + {n_maps} maps."
            )
        conf["normalization_schemes"] = schemes[:1] + [NO_NORMALIZATION] * n_maps
        conf["use_mask_for_norm"] = masks[:1] + [False] * n_maps
    return plans_copy
