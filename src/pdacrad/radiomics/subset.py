"""PyRadiomics params pruned to a list of features: the image types, feature classes and features those names need,
and nothing else, so that an extraction of a few selected features does not compute the whole params file.

A segment extraction of the pruned params gives exactly the values of the full extraction for the listed features:
PyRadiomics computes each image type from the same loaded image independently of the others (one LoG image per
sigma; the wavelet sub-bands of one decomposition), each feature class from its own matrices whatever features are
enabled, and shape on the original image whatever image types are enabled. Every ``setting:`` (bin width,
resampling, normalisation, label, ...), ``voxelSetting:`` and pdacrad's ``pdacrad:`` section are kept as they are,
since dropping one would change values. What cannot be pruned is kept whole: the ``Wavelet`` image type (its
sub-bands come from one decomposition, with its ``start_level``/``level``/``wavelet``) and ``LBP3D`` (its levels and
kurtosis come from one spherical-harmonics expansion).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pdacrad.errors import InvalidInputError

#: Feature classes computed on the original image whatever ``imageType`` enables (PyRadiomics' ``computeShape``).
SHAPE_CLASSES = ("shape", "shape2D")


def params_for_features(params: Mapping[str, Any], features: Sequence[str]) -> dict[str, Any]:
    """``params`` (PyRadiomics' params-file shape: ``setting``/``imageType``/``featureClass``, optionally
    ``voxelSetting`` and pdacrad's ``pdacrad``) reduced to what ``features`` (``<imageType>_<featureClass>_<Feature>``
    names, e.g. ``log-sigma-4-0-mm-3D_glcm_Idm``) need: only the image types that produce their images (a LoG with
    only the sigmas named), only their feature classes, each with only the features named. Sections other than
    ``imageType`` and ``featureClass`` are copied unchanged. ``params`` is not modified.

    Raises:
        InvalidInputError: ``features`` is empty, a name is not ``<imageType>_<featureClass>_<Feature>``, or
            ``params`` does not compute a named feature (its image type or sigma not enabled, its class not
            enabled, the feature not in the class's list, or not a feature PyRadiomics computes by default) — the
            message names the feature.
    """
    if not features:
        raise InvalidInputError("no features to prune the radiomics params to")
    setting = dict(params.get("setting") or {})
    image_types = {k: dict(v or {}) for k, v in dict(params.get("imageType") or {"Original": {}}).items()}
    classes = dict(params.get("featureClass") or {})
    all_classes = not classes  # PyRadiomics: no featureClass section = every class, every default feature
    needed_images: dict[str, set[str]] = {}
    needed_features: dict[str, set[str]] = {}
    for name in features:
        image, family, feature = _split(name)
        _check_feature(name, family, feature, None if all_classes else classes)
        needed_features.setdefault(family, set()).add(feature)
        if family in SHAPE_CLASSES:
            if image != "original":
                raise InvalidInputError(f"feature {name!r}: shape features exist only as original_{family}_*")
            continue
        key = _image_type_of(name, image, image_types, setting)
        needed_images.setdefault(key, set()).add(image)
    out = {k: copy.deepcopy(v) for k, v in params.items() if k not in ("imageType", "featureClass")}
    out["imageType"] = {
        key: _pruned_image_type(key, custom, needed_images[key], setting)
        for key, custom in image_types.items()
        if key in needed_images
    }
    order = list(classes) if not all_classes else sorted(needed_features)
    out["featureClass"] = {
        family: _ordered(needed_features[family], classes.get(family))
        for family in order
        if family in needed_features
    }
    return out


def _split(name: str) -> tuple[str, str, str]:
    parts = name.split("_") if isinstance(name, str) else []
    if len(parts) != 3 or not all(parts):
        raise InvalidInputError(
            f"feature {name!r} is not a PyRadiomics name <imageType>_<featureClass>_<Feature>"
        )
    return parts[0], parts[1], parts[2]


def _check_feature(name: str, family: str, feature: str, classes: Mapping[str, Any] | None) -> None:
    """Refuse a feature the params' ``featureClass`` section (``None``: absent, so every class) does not compute."""
    from radiomics import getFeatureClasses

    known = getFeatureClasses()
    if family not in known:
        raise InvalidInputError(f"feature {name!r}: PyRadiomics has no feature class {family!r}")
    if classes is not None and family not in classes:
        raise InvalidInputError(f"feature {name!r}: feature class {family!r} is not enabled in the params")
    listed = None if classes is None else classes[family]
    deprecated = known[family].getFeatureNames()
    if feature not in deprecated:
        raise InvalidInputError(f"feature {name!r}: PyRadiomics' {family} has no feature {feature!r}")
    if listed:  # an explicit list: PyRadiomics computes exactly these
        if feature not in listed:
            raise InvalidInputError(
                f"feature {name!r}: {feature} is not in the params' {family} list {list(listed)}"
            )
    elif deprecated[feature]:  # null or empty list: every feature except the deprecated ones
        raise InvalidInputError(
            f"feature {name!r}: {feature} is deprecated in PyRadiomics and not computed unless listed"
        )


def _image_type_of(
    name: str, image: str, image_types: Mapping[str, Mapping[str, Any]], setting: Mapping[str, Any]
) -> str:
    """The ``imageType`` key of ``params`` whose filter yields the image named ``image``."""
    for key, custom in image_types.items():
        names = _IMAGE_NAMES.get(key)
        if names is not None and image in names({**setting, **custom}):
            return key
    raise InvalidInputError(
        f"feature {name!r}: no image type of the params ({', '.join(image_types) or 'none'}) yields image "
        f"{image!r} with its settings"
    )


def _pruned_image_type(
    key: str, custom: Mapping[str, Any], images: set[str], setting: Mapping[str, Any]
) -> dict[str, Any]:
    """The custom settings of image type ``key`` reduced to ``images``: a LoG keeps only their sigmas (in the
    params' order; the other custom keys as they are); other image types are kept whole."""
    pruned = copy.deepcopy(dict(custom))
    if key == "LoG":
        sigmas = {**setting, **custom}.get("sigma") or []
        pruned["sigma"] = [s for s in sigmas if _log_name(s) in images]
    return pruned


def _ordered(features: set[str], listed: Any) -> list[str]:
    """``features`` in the order of the params' list of the class (sorted when the class had none)."""
    if listed:
        return [f for f in listed if f in features]
    return sorted(features)


def _log_name(sigma: Any) -> str:
    """PyRadiomics' name of the LoG image of ``sigma`` (``getLoGImage``: ``str(sigma)``, dots as dashes)."""
    return "log-sigma-%s-mm-3D" % str(sigma).replace(".", "-")  # noqa: UP031  # PyRadiomics' own format


def _wavelet_names(args: Mapping[str, Any]) -> set[str]:
    """The images of ``getWaveletImage``: the 7 (3-D; 3 with ``force2D``) detail sub-bands of each of ``level``
    levels, ``wavelet-<bands>`` at the first and ``wavelet<i>-<bands>`` after, plus the last level's approximation."""
    n_axes = 2 if args.get("force2D", False) else 3
    level = int(args.get("level", 1))
    bands = ["".join(c) for c in itertools.product("LH", repeat=n_axes)]
    prefix = {i: "wavelet-" if i == 1 else f"wavelet{i}-" for i in range(1, level + 1)}
    names = {prefix[i] + b for i in prefix for b in bands if b != "L" * n_axes}
    names.add(prefix[level] + "L" * n_axes)
    return names


def _lbp3d_names(args: Mapping[str, Any]) -> set[str]:
    """The images of ``getLBP3DImage``: one per spherical-harmonics level, plus the kurtosis."""
    return {f"lbp-3D-m{i}" for i in range(1, int(args.get("lbp3DLevels", 2)) + 1)} | {"lbp-3D-k"}


#: Per PyRadiomics image type, the names of the images its ``get<Type>Image`` yields under given settings.
_IMAGE_NAMES: dict[str, Callable[[Mapping[str, Any]], set[str]]] = {
    "Original": lambda args: {"original"},
    "LoG": lambda args: {_log_name(s) for s in args.get("sigma") or []},
    "Wavelet": _wavelet_names,
    "Square": lambda args: {"square"},
    "SquareRoot": lambda args: {"squareroot"},
    "Logarithm": lambda args: {"logarithm"},
    "Exponential": lambda args: {"exponential"},
    "Gradient": lambda args: {"gradient"},
    "LBP2D": lambda args: {"lbp-2D"},
    "LBP3D": _lbp3d_names,
}

__all__ = ["SHAPE_CLASSES", "params_for_features"]
