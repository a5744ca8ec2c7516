"""PyRadiomics parameter files (YAML) as one frozen, validated settings object.

A params file has PyRadiomics' own top-level sections — ``setting:``, ``voxelSetting:``, ``imageType:``,
``featureClass:`` — validated with PyRadiomics' own schema, so a file that PyRadiomics accepts means the same here.
pdacrad adds one optional section, ``pdacrad:``, that PyRadiomics never sees:

- ``intensityWindow: [low, high]`` — clip intensities (HU) to this range before anything else (the paper's CT
  window: level 40 / width 400 → ``[-160, 240]``);
- ``maps: [name, ...]`` — the default map features (``<imageType>_<featureClass>_<Feature>``) for ``pdacrad maps``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pdacrad.errors import InvalidInputError

logger = logging.getLogger(__name__)

PARAMS_DIR = Path(__file__).resolve().parent / "params"
"""Folder of the params files shipped with pdacrad (``paper_global.yaml``, ``paper_maps.yaml``, ...)."""

# PyRadiomics' extractor defaults (featureextractor._getDefaultSettings) plus the feature-class defaults that
# matter for voxel mode; settings given in a file override these.
_DEFAULTS: dict[str, Any] = {
    "minimumROIDimensions": 2,
    "minimumROISize": None,
    "normalize": False,
    "normalizeScale": 1,
    "removeOutliers": None,
    "resampledPixelSpacing": None,
    "interpolator": "sitkBSpline",
    "preCrop": False,
    "padDistance": 5,
    "distances": [1],
    "force2D": False,
    "force2Ddimension": 0,
    "resegmentRange": None,
    "label": 1,
    "additionalInfo": True,
}
_VOXEL_DEFAULTS: dict[str, Any] = {
    "kernelRadius": 1,
    "maskedKernel": True,
    "initValue": 0.0,
}
_PYRADIOMICS_SECTIONS = ("setting", "voxelSetting", "imageType", "featureClass")
_PDACRAD_KEYS = ("intensityWindow", "maps")


@dataclass(frozen=True)
class RadiomicsSettings:
    """One params file, validated.

    Attributes:
        image_types: ``{PyRadiomics image type: custom settings}`` (e.g. ``{"Original": {}, "LoG": {"sigma": [4.0]}}``).
        feature_classes: ``{feature class: [feature names] or None}``; ``None`` means every non-deprecated feature.
        setting: PyRadiomics ``setting:`` keys merged over the extractor defaults.
        voxel_setting: PyRadiomics ``voxelSetting:`` keys merged over the voxel-mode defaults.
        intensity_window: ``(low, high)`` clip applied to the image before everything else (HU), or ``None``.
        maps: default map feature names for ``pdacrad maps`` (may be empty: then every enabled feature).
    """

    image_types: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: {"Original": {}})
    feature_classes: Mapping[str, list[str] | None] = field(default_factory=dict)
    setting: Mapping[str, Any] = field(default_factory=lambda: dict(_DEFAULTS))
    voxel_setting: Mapping[str, Any] = field(default_factory=lambda: dict(_VOXEL_DEFAULTS))
    intensity_window: tuple[float, float] | None = None
    maps: tuple[str, ...] = ()

    @property
    def kernel_radius(self) -> int:
        """Voxel-mode kernel radius in voxels (Chebyshev distance)."""
        return int(self.voxel_setting["kernelRadius"])

    def merged(self) -> dict[str, Any]:
        """``setting`` and ``voxelSetting`` merged, as the extractor passes them to feature classes in voxel mode."""
        return {**self.setting, **self.voxel_setting}

    def as_pyradiomics(self) -> dict[str, Any]:
        """The params as a dict that ``RadiomicsFeatureExtractor(dict)`` accepts (no pdacrad section)."""
        out: dict[str, Any] = {
            "setting": {k: v for k, v in self.setting.items() if v is not None},
            "imageType": {k: dict(v) for k, v in self.image_types.items()},
            "featureClass": {
                k: (list(v) if v is not None else None) for k, v in self.feature_classes.items()
            },
        }
        voxel = {k: v for k, v in self.voxel_setting.items() if v is not None}
        out["voxelSetting"] = voxel
        return out


def _validate_with_pyradiomics(params: dict[str, Any], where: str) -> None:
    import pykwalify.core
    from radiomics import getParameterValidationFiles

    schema_file, schema_funcs = getParameterValidationFiles()
    # pykwalify logs every schema violation at ERROR level itself; the message we raise is enough.
    logging.getLogger("pykwalify").setLevel(logging.CRITICAL)
    try:
        pykwalify.core.Core(
            source_data=params, schema_files=[schema_file], extensions=[schema_funcs]
        ).validate()
    except Exception as exc:  # pykwalify raises its own SchemaError with a multi-line message
        detail = " ".join(str(getattr(exc, "msg", exc)).split())
        raise InvalidInputError(f"invalid radiomics params {where}: {detail}") from None


def settings_from_dict(params: Mapping[str, Any] | None, where: str = "(dict)") -> RadiomicsSettings:
    """Validate a params mapping (the parsed YAML) and return :class:`RadiomicsSettings`.

    Raises :class:`InvalidInputError` naming ``where`` when a key or value is not one PyRadiomics accepts.
    """
    params = dict(params or {})
    unknown = set(params) - set(_PYRADIOMICS_SECTIONS) - {"pdacrad"}
    if unknown:
        raise InvalidInputError(
            f"invalid radiomics params {where}: unknown section(s) {sorted(unknown)}; "
            f"expected {list(_PYRADIOMICS_SECTIONS)} and optionally 'pdacrad'"
        )
    extra = dict(params.pop("pdacrad", None) or {})
    bad = set(extra) - set(_PDACRAD_KEYS)
    if bad:
        raise InvalidInputError(f"invalid radiomics params {where}: unknown pdacrad key(s) {sorted(bad)}")
    _validate_with_pyradiomics(params, where)

    window = extra.get("intensityWindow")
    if window is not None:
        if len(window) != 2 or not float(window[0]) < float(window[1]):
            raise InvalidInputError(
                f"invalid radiomics params {where}: intensityWindow must be [low, high], low < high"
            )
        window = (float(window[0]), float(window[1]))
    settings = {**_DEFAULTS, **(params.get("setting") or {})}
    voxel = {**_VOXEL_DEFAULTS, **(params.get("voxelSetting") or {})}
    if settings.get("binCount") is None and "binWidth" not in settings:
        settings["binWidth"] = 25.0
    image_types = {k: dict(v or {}) for k, v in (params.get("imageType") or {"Original": {}}).items()}
    feature_classes = {k: (list(v) if v else None) for k, v in (params.get("featureClass") or {}).items()}
    return RadiomicsSettings(
        image_types=image_types,
        feature_classes=feature_classes,
        setting=settings,
        voxel_setting=voxel,
        intensity_window=window,
        maps=tuple(str(m) for m in extra.get("maps") or ()),
    )


def load_settings(path: str | Path | None = None) -> RadiomicsSettings:
    """Read a params YAML file (``None``: PyRadiomics' defaults — Original image, every feature class)."""
    if path is None:
        return settings_from_dict({})
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"radiomics params file not found: {path}")
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InvalidInputError(
            f"radiomics params file {path} is not valid YAML: {exc}".splitlines()[0]
        ) from None
    if params is not None and not isinstance(params, dict):
        raise InvalidInputError(f"radiomics params file {path} must hold a mapping of sections")
    return settings_from_dict(params, where=str(path))


def coerce_settings(settings: RadiomicsSettings | Mapping[str, Any] | str | Path | None) -> RadiomicsSettings:
    """Accept a settings object, a params mapping, a YAML path, or ``None`` (defaults)."""
    if isinstance(settings, RadiomicsSettings):
        return settings
    if settings is None or isinstance(settings, (str, Path)):
        return load_settings(settings)
    return settings_from_dict(settings)
