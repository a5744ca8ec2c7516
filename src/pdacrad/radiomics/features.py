"""Segment-level ("global") radiomics features: PyRadiomics' own ``RadiomicsFeatureExtractor`` (the reference).

pdacrad adds only the optional intensity window of the params file (``pdacrad: intensityWindow``) and drops
PyRadiomics' ``diagnostics_*`` entries, returning plain floats keyed by PyRadiomics names.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics.filters import clip_intensities
from pdacrad.radiomics.settings import RadiomicsSettings, coerce_settings

logger = logging.getLogger(__name__)


def compute_features(
    image: sitk.Image,
    mask: sitk.Image,
    settings: RadiomicsSettings | Mapping[str, Any] | str | Path | None = None,
    label: int = 1,
) -> dict[str, float]:
    """Segment features of ``image`` inside ``mask == label``: ``{<imageType>_<featureClass>_<Feature>: value}``.

    Raises :class:`InvalidInputError` when the ROI fails PyRadiomics' checks (e.g. no voxel with ``label``).
    """
    from radiomics import featureextractor

    cfg = coerce_settings(settings)
    extractor = featureextractor.RadiomicsFeatureExtractor(cfg.as_pyradiomics())
    if cfg.intensity_window is not None:
        image = clip_intensities(image, cfg.intensity_window)
    try:
        result = extractor.execute(image, mask, label=label)
    except ValueError as exc:
        raise InvalidInputError(
            f"mask label {label} is not a usable ROI: {' '.join(str(exc).split())}"
        ) from None
    return {k: float(np.asarray(v)) for k, v in result.items() if not k.startswith("diagnostics_")}
