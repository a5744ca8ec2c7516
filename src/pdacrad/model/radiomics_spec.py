"""``resources/radiomics.json``: which radiomics the radiomics-enhanced Stage 2 was trained with.

The file is written by the training tree's ``select`` step and read once at inference::

    {"params":          {...PyRadiomics params file of the global (segment-level) features...},
     "global_features": ["original_glcm_Correlation", ...],          # order of the Stage-2 global vector
     "scaler":          {"mean": [...], "std": [...]},                # z-score of each global feature
     "map_features":    ["wavelet-LLH_glszm_...", ...],               # order of the Stage-2 map channels
     "map_params":      {...PyRadiomics params file of the voxel-wise maps...},
     "inputs":          {"maps": true, "global_vector": true},        # optional: what the Stage-2 model takes
     "preprocessing":   {"roi_margins_mm_xyz": [100, 50, 15],         # optional: how the model's inputs were made
                         "pancreas": "largest_component", "map_mask_dilation_mm": 5.0},
     "map_scaler":      {"lower": [...], "upper": [...],              # optional: fixed normalisation of each
                         "mean": [...], "std": [...]}}                # map channel (map_features order)

Feature names follow PyRadiomics (``<imageType>_<featureClass>_<Feature>``). Map features never include shape
features: shape describes the whole segment and has no voxel-wise map.

``inputs`` says which of the four ablation variants the Stage-2 model is (:data:`VARIANTS`): ``base`` (CT only),
``maps`` (CT + map channels, plain network), ``global`` (CT + global vector by cross-attention), ``both``. Absent
(files written before it existed), it is what the lists imply: maps iff ``map_features``, global vector iff
``global_features``. ``preprocessing`` is what the training tree used to make the model's inputs, so that inference
makes them the same way; absent, it is the defaults of :class:`Preprocessing` (the PANORAMA recipe).
``map_scaler`` (:class:`~pdacrad.model.map_scaler.MapScaler`) normalises the map channels with statistics fitted
on the training cases, and the model's plans then leave them as they are (``NoNormalization``); absent (files
written before it existed), the maps go in raw and the model's plans z-score them per case.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pdacrad.errors import InvalidInputError, ResourceError
from pdacrad.io.atomic import atomic_write_json
from pdacrad.io.json_files import read_json_object
from pdacrad.model.map_scaler import MapScaler
from pdacrad.preprocessing.roi import DEFAULT_MARGINS_MM

_FEATURE_NAME = re.compile(r"^[A-Za-z0-9.\-]+_[A-Za-z0-9]+_[A-Za-z0-9]+$")
_KEYS = ("params", "global_features", "scaler", "map_features", "map_params")

#: The ablation variants of Stage 2, by the inputs the model takes besides the CT.
VARIANTS: tuple[str, ...] = ("base", "maps", "global", "both")
#: Margin in mm by which the radiomics pancreas is dilated before computing maps (covers the tumour rim).
MAP_MASK_DILATION_MM = 5.0


@dataclass(frozen=True)
class ModelInputs:
    """Which radiomics inputs a Stage-2 model takes besides the CT: parametric-map channels and/or the global
    vector (cross-attention at the bottleneck)."""

    maps: bool
    global_vector: bool

    @classmethod
    def of_variant(cls, variant: str) -> ModelInputs:
        """The inputs of an ablation variant (``base``, ``maps``, ``global``, ``both``).

        Raises:
            InvalidInputError: unknown variant.
        """
        if variant not in VARIANTS:
            raise InvalidInputError(f"unknown Stage-2 variant {variant!r}; known: {', '.join(VARIANTS)}.")
        return cls(maps=variant in ("maps", "both"), global_vector=variant in ("global", "both"))

    @property
    def variant(self) -> str:
        """The ablation variant these inputs make."""
        return VARIANTS[int(self.maps) + 2 * int(self.global_vector)]


@dataclass(frozen=True)
class Preprocessing:
    """How the Stage-2 inputs were made at training, and so must be made at inference.

    Attributes:
        roi_margins_mm_xyz: ROI margins around the Stage-1 pancreas in mm, physical (x, y, z) order.
        pancreas: the rule that turns a Stage-1 mask into the pancreas of the global features and the map mask;
            ``largest_component`` = its largest 26-connected component.
        map_mask_dilation_mm: margin in mm by which that pancreas is dilated for the maps.
    """

    roi_margins_mm_xyz: tuple[float, float, float] = DEFAULT_MARGINS_MM
    pancreas: Literal["largest_component"] = "largest_component"
    map_mask_dilation_mm: float = MAP_MASK_DILATION_MM

    def __post_init__(self) -> None:
        margins = tuple(float(m) for m in self.roi_margins_mm_xyz)
        if len(margins) != 3 or not all(math.isfinite(m) and m >= 0 for m in margins):
            raise ResourceError(f"preprocessing.roi_margins_mm_xyz must be 3 numbers ≥ 0, got {margins}.")
        object.__setattr__(self, "roi_margins_mm_xyz", margins)
        if self.pancreas != "largest_component":
            raise ResourceError(
                f"preprocessing.pancreas: unknown rule {self.pancreas!r} (largest_component)."
            )
        if not (math.isfinite(self.map_mask_dilation_mm) and self.map_mask_dilation_mm >= 0):
            raise ResourceError(
                f"preprocessing.map_mask_dilation_mm must be ≥ 0, got {self.map_mask_dilation_mm}."
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "roi_margins_mm_xyz": list(self.roi_margins_mm_xyz),
            "pancreas": self.pancreas,
            "map_mask_dilation_mm": self.map_mask_dilation_mm,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "preprocessing") -> Preprocessing:
        if not isinstance(data, Mapping):
            raise ResourceError(f"{where}: expected an object, got {type(data).__name__}.")
        unknown = sorted(set(data) - {"roi_margins_mm_xyz", "pancreas", "map_mask_dilation_mm"})
        if unknown:
            raise ResourceError(f"{where}: unknown key(s) {', '.join(unknown)}.")
        try:
            return cls(**dict(data))
        except (TypeError, ValueError) as error:
            raise ResourceError(f"{where}: {error}") from None


def is_shape_feature(name: str) -> bool:
    """Whether a PyRadiomics feature name belongs to a shape class (``shape`` or ``shape2D``)."""
    parts = name.split("_")
    return len(parts) == 3 and parts[1].startswith("shape")


@dataclass(frozen=True)
class RadiomicsSpec:
    """The contents of ``radiomics.json``, validated on construction.

    Attributes:
        params: PyRadiomics params (``setting``/``imageType``/``featureClass`` sections, optionally pdacrad's
            ``pdacrad`` section) used to compute the global features on the Stage-1 pancreas mask.
        global_features: names of the global features, in the order of the Stage-2 global vector.
        mean: per global feature, the training-set mean (feature units).
        std: per global feature, the training-set standard deviation (feature units, > 0).
        map_features: names of the parametric-map features, in the order of the Stage-2 input channels 1..N.
        map_params: PyRadiomics params used for the maps (``setting``, ``voxelSetting``, ``imageType``, and
            pdacrad's ``pdacrad: {intensityWindow: [low, high]}`` in HU).
        inputs: which of these the Stage-2 model takes; ``None`` on construction means what the lists imply.
        preprocessing: how the inputs are made (ROI margins, pancreas rule, map-mask dilation).
        map_scaler: fixed normalisation of the map channels, one entry per map feature; ``None``: raw maps
            (the model's plans z-score them per case).

    Raises:
        ResourceError: lengths differ, a name is not a PyRadiomics feature name or is repeated, a scaler value
            is not finite or a std is not > 0, a map feature is a shape feature, or ``inputs`` asks for maps or a
            vector whose feature list is empty.
    """

    params: Mapping[str, Any]
    global_features: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    map_features: tuple[str, ...] = ()
    map_params: Mapping[str, Any] = field(default_factory=dict)
    inputs: ModelInputs = None  # type: ignore[assignment]  # None → derived in __post_init__
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    map_scaler: MapScaler | None = None

    def __post_init__(self) -> None:
        # Accept lists from callers but store tuples, so the spec stays hashable-ish and immutable.
        for name in ("global_features", "mean", "std", "map_features"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        _check_names("global_features", self.global_features)
        _check_names("map_features", self.map_features)
        n = len(self.global_features)
        if len(self.mean) != n or len(self.std) != n:
            raise ResourceError(
                f"radiomics spec: scaler has {len(self.mean)} means and {len(self.std)} stds for "
                f"{n} global features; they must be equal in length."
            )
        for i, (m, s) in enumerate(zip(self.mean, self.std, strict=True)):
            if not (math.isfinite(m) and math.isfinite(s) and s > 0):
                raise ResourceError(
                    f"radiomics spec: scaler of {self.global_features[i]} has mean={m}, std={s}; "
                    "need finite values and std > 0."
                )
        shape = [f for f in self.map_features if is_shape_feature(f)]
        if shape:
            raise ResourceError(
                f"radiomics spec: map_features include shape features {shape}; shape has no map."
            )
        if not isinstance(self.params, Mapping) or not isinstance(self.map_params, Mapping):
            raise ResourceError(
                "radiomics spec: params and map_params must be mappings (PyRadiomics sections)."
            )
        if self.inputs is None:
            object.__setattr__(
                self,
                "inputs",
                ModelInputs(maps=bool(self.map_features), global_vector=bool(self.global_features)),
            )
        if self.inputs.maps and not self.map_features:
            raise ResourceError("radiomics spec: inputs.maps is true but map_features is empty.")
        if self.inputs.global_vector and not self.global_features:
            raise ResourceError("radiomics spec: inputs.global_vector is true but global_features is empty.")
        if self.map_scaler is not None and len(self.map_scaler) != len(self.map_features):
            raise ResourceError(
                f"radiomics spec: map_scaler has {len(self.map_scaler)} feature(s) for "
                f"{len(self.map_features)} map_features; they must be equal in length."
            )

    @property
    def variant(self) -> str:
        """The ablation variant of the Stage-2 model this spec feeds (``base``, ``maps``, ``global``, ``both``)."""
        return self.inputs.variant

    def for_variant(self, variant: str) -> RadiomicsSpec:
        """This spec with ``inputs`` set to ``variant``'s (same features, scaler, params and preprocessing).

        Raises:
            InvalidInputError: unknown variant. ResourceError: the variant needs a list that is empty here.
        """
        return dataclasses.replace(self, inputs=ModelInputs.of_variant(variant))

    def zscore(self, features: Mapping[str, float]) -> np.ndarray:
        """The global vector ``(len(global_features),)`` float32: each feature z-scored with the stored scaler.

        Raises:
            InvalidInputError: a global feature is missing from ``features``.
        """
        missing = [name for name in self.global_features if name not in features]
        if missing:
            raise InvalidInputError(
                f"global features lack {len(missing)} feature(s) named in radiomics.json, e.g. {missing[0]}; "
                "compute them with radiomics.json's params."
            )
        values = np.array([float(features[name]) for name in self.global_features], dtype=np.float64)
        return ((values - np.asarray(self.mean)) / np.asarray(self.std)).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of the SPEC (plain lists and dicts); ``map_scaler`` only when there is one."""
        scaler = {} if self.map_scaler is None else {"map_scaler": self.map_scaler.to_dict()}
        return {
            "params": _plain(self.params),
            "global_features": list(self.global_features),
            "scaler": {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]},
            "map_features": list(self.map_features),
            "map_params": _plain(self.map_params),
            "inputs": {"maps": self.inputs.maps, "global_vector": self.inputs.global_vector},
            "preprocessing": self.preprocessing.to_dict(),
            **scaler,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "radiomics.json") -> RadiomicsSpec:
        """Build from the JSON document; raises :class:`ResourceError` naming ``where`` on any problem."""
        if not isinstance(data, Mapping):
            raise ResourceError(f"{where}: expected a JSON object with keys {', '.join(_KEYS)}.")
        missing = [k for k in _KEYS if k not in data]
        if missing:
            raise ResourceError(f"{where}: missing key(s) {', '.join(missing)}.")
        scaler = data["scaler"]
        if not isinstance(scaler, Mapping) or set(scaler) != {"mean", "std"}:
            raise ResourceError(f"{where}: 'scaler' must be {{'mean': [...], 'std': [...]}}.")
        for key, value in (
            ("global_features", data["global_features"]),
            ("map_features", data["map_features"]),
            ("scaler.mean", scaler["mean"]),
            ("scaler.std", scaler["std"]),
        ):
            if not isinstance(value, list):
                raise ResourceError(f"{where}: '{key}' must be a list, got {type(value).__name__}.")
        inputs = data.get("inputs")
        if inputs is not None and (
            not isinstance(inputs, Mapping)
            or set(inputs) != {"maps", "global_vector"}
            or not all(isinstance(v, bool) for v in inputs.values())
        ):
            raise ResourceError(f"{where}: 'inputs' must be {{'maps': bool, 'global_vector': bool}}.")
        preprocessing = Preprocessing.from_dict(data.get("preprocessing", {}), f"{where}: preprocessing")
        map_scaler = data.get("map_scaler")
        if map_scaler is not None:
            map_scaler = MapScaler.from_dict(map_scaler, f"{where}: map_scaler")
        try:
            return cls(
                # None → what the lists imply (derived in __post_init__)
                inputs=None if inputs is None else ModelInputs(inputs["maps"], inputs["global_vector"]),  # type: ignore[arg-type]
                preprocessing=preprocessing,
                params=data["params"],
                global_features=tuple(data["global_features"]),
                mean=tuple(float(v) for v in scaler["mean"]),
                std=tuple(float(v) for v in scaler["std"]),
                map_features=tuple(data["map_features"]),
                map_params=data["map_params"],
                map_scaler=map_scaler,
            )
        except ResourceError as error:
            raise ResourceError(f"{where}: {error}") from None
        except (TypeError, ValueError) as error:
            raise ResourceError(f"{where}: scaler values must be numbers ({error}).") from None

    @classmethod
    def load(cls, path: str | Path) -> RadiomicsSpec:
        """Read and validate ``radiomics.json``.

        Raises:
            ResourceError: the file is missing, not JSON, or fails validation.
        """
        path = Path(path)
        if not path.is_file():
            raise ResourceError(f"radiomics spec not found: {path}.")
        return cls.from_dict(read_json_object(path), where=str(path))

    def save(self, path: str | Path) -> None:
        """Write ``radiomics.json`` atomically (temporary file + rename)."""
        atomic_write_json(self.to_dict(), Path(path))


def _check_names(key: str, names: Sequence[str]) -> None:
    bad = [n for n in names if not isinstance(n, str) or not _FEATURE_NAME.match(n)]
    if bad:
        raise ResourceError(
            f"radiomics spec: {key} has name(s) that are not PyRadiomics feature names "
            f"(<imageType>_<featureClass>_<Feature>): {bad[:3]}."
        )
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if list(names).count(n) > 1})
        raise ResourceError(f"radiomics spec: {key} repeats {repeated}.")


def _plain(value: Any) -> Any:
    """Mappings and sequences (incl. tuples, numpy scalars) as plain JSON types."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
