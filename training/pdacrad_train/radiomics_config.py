"""Settings of the radiomics steps (``global-features``, ``select``, ``maps``): frozen dataclasses read from a YAML.

They live in a side file beside the training config, ``<config stem>.radiomics.yaml`` (e.g.
``training/configs/synthetic-demo.radiomics.yaml``), or the file given with ``--radiomics-config``. Without one,
the defaults are the paper's recipe: PyRadiomics params ``paper_global.yaml`` (original + LoG + wavelet),
Mann–Whitney U with Benjamini–Hochberg FDR 0.05, SVM-RFE to 10 features, 10-fold CV, and the paper code's map
settings (kernel radius 5 on the ROI resampled to 1 × 1 × 2.5 mm, HU window level 40 / width 400, bin width 20,
map mask = pancreas dilated by 5 mm). The selection is fitted per Stage-2 fold (``selection.mode: per-fold``)
unless ``pooled`` is asked for.
Relative paths in the file are relative to the file's folder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

import pdacrad
from pdacrad.errors import InvalidInputError
from pdacrad.model.radiomics_spec import MAP_MASK_DILATION_MM
from pdacrad_train.config import TrainConfig, _build

#: The paper's global-feature params file, shipped with the radiomics engine.
# Resolved from the package folder without importing pdacrad.radiomics (which imports torch).
PAPER_GLOBAL_PARAMS = Path(pdacrad.__file__).resolve().parent / "radiomics" / "params" / "paper_global.yaml"


@dataclass(frozen=True)
class SelectionConfig:
    """Feature selection: FDR filter + SVM-RFE + scaler, fitted on training cases only.

    ``mode``: ``per-fold`` (default, leakage-free) fits one selection per fold of Stage 2's ``splits_final.json``
    on that fold's training cases, so each Stage-2 fold model gets inputs its validation cases did not help
    choose; ``pooled`` (the paper's) fits one selection on every case, so every validation fold helped choose its
    own inputs — stated in its report. ``test``: univariate test per feature (``mannwhitneyu`` or Welch's ``ttest``), p-values corrected with
    Benjamini–Hochberg at ``fdr_alpha``; then recursive feature elimination with a linear SVM (``svm_c``)
    removing ``rfe_step`` features per round down to ``n_features``. ``cv_folds``-fold stratified CV of the
    radiomics-only SVM with ``bootstrap`` resamples for 95% CIs, seeded by ``seed``.
    """

    mode: Literal["per-fold", "pooled"] = "per-fold"
    test: Literal["mannwhitneyu", "ttest"] = "mannwhitneyu"
    fdr_alpha: float = 0.05
    n_features: int = 10
    rfe_step: int = 1
    svm_c: float = 1.0
    cv_folds: int = 10
    bootstrap: int = 2000
    seed: int = 0


@dataclass(frozen=True)
class MapParamsConfig:
    """Voxel-wise map settings written to ``radiomics.json`` ``map_params`` (the paper code's values).

    ``kernel_radius`` in voxels of the ROI resampled to ``resampled_spacing_xyz`` (mm, x y z as PyRadiomics'
    ``resampledPixelSpacing``); intensities clipped to the HU window ``window_level_hu ± window_width_hu / 2``
    and discretised with ``bin_width`` (HU). ``mask_dilation_mm``: margin (mm) by which the radiomics pancreas is
    dilated for the map mask (radiomics.json ``preprocessing.map_mask_dilation_mm``).
    """

    kernel_radius: int = 5
    resampled_spacing_xyz: tuple[float, float, float] = (1.0, 1.0, 2.5)
    window_level_hu: float = 40.0
    window_width_hu: float = 400.0
    bin_width: float = 20.0
    masked_kernel: bool = True
    init_value: float = 0.0
    mask_dilation_mm: float = MAP_MASK_DILATION_MM

    def params(
        self, image_types: Mapping[str, Mapping[str, Any]], feature_classes: Sequence[str]
    ) -> dict[str, Any]:
        """A PyRadiomics params dict (plus pdacrad's ``intensityWindow``) computing ``feature_classes`` on
        ``image_types`` — the format of ``src/pdacrad/radiomics/params/paper_maps.yaml``."""
        half = self.window_width_hu / 2.0
        return {
            "setting": {
                "binWidth": self.bin_width,
                "resampledPixelSpacing": list(self.resampled_spacing_xyz),
                "interpolator": "sitkBSpline",
                # Voxels kept around the ROI when resampling: at least the kernel radius.
                "padDistance": max(5, self.kernel_radius),
                "label": 1,
            },
            "voxelSetting": {
                "kernelRadius": self.kernel_radius,
                "maskedKernel": self.masked_kernel,
                "initValue": self.init_value,
            },
            "imageType": {k: dict(v) for k, v in image_types.items()},
            "featureClass": {c: None for c in feature_classes},
            "pdacrad": {"intensityWindow": [self.window_level_hu - half, self.window_level_hu + half]},
        }


@dataclass(frozen=True)
class RadiomicsConfig:
    """The radiomics steps' settings. ``params``: PyRadiomics params file of the global features (``None``:
    the paper's ``paper_global.yaml``); ``n_workers``: Dask local-cluster workers (``None``: one per core); ``scheduler``: address of a running Dask scheduler to use instead (``None``: a local
    cluster); ``device``: where maps are computed (``None``: the config's ``run.device``). Every step that
    computes maps or features reads these three through :func:`pdacrad_train.parallel.map_compute`."""

    params: str | None = None
    n_workers: int | None = None
    scheduler: str | None = None
    device: Literal["auto", "cpu", "cuda"] | None = None
    selection: SelectionConfig = SelectionConfig()
    maps: MapParamsConfig = MapParamsConfig()
    source: str = ""

    @property
    def params_path(self) -> Path:
        """The params file, resolved against the side file's folder."""
        if self.params is None:
            return PAPER_GLOBAL_PARAMS
        path = Path(self.params)
        return path if path.is_absolute() or not self.source else Path(self.source).parent / path


def side_file(config: TrainConfig) -> Path:
    """``<config stem>.radiomics.yaml`` beside the training config."""
    source = Path(config.source)
    return source.with_name(f"{source.name.removesuffix('.yaml').removesuffix('.yml')}.radiomics.yaml")


def load_radiomics_config(config: TrainConfig, path: str | Path | None = None) -> RadiomicsConfig:
    """The radiomics settings from ``path``, else the side file of ``config`` if it exists, else the defaults.

    Raises:
        InvalidInputError: ``path`` is missing, or the file has unknown/missing/mistyped keys.
    """
    if path is None:
        candidate = side_file(config)
        if not candidate.is_file():
            return RadiomicsConfig()
        path = candidate
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"radiomics config not found: {path}.")
    data = yaml.safe_load(path.read_text()) or {}
    if isinstance(data, dict) and "source" in data:
        raise InvalidInputError(f"{path}: 'source' is reserved (it records the file's path).")
    try:
        rcfg: RadiomicsConfig = _build(RadiomicsConfig, data, "")
    except InvalidInputError as error:
        raise InvalidInputError(f"{path}: {error}") from None
    s = rcfg.selection
    if s.n_features < 1 or s.rfe_step < 1 or s.cv_folds < 2 or not 0 < s.fdr_alpha <= 1 or s.bootstrap < 0:
        raise InvalidInputError(
            f"{path}: selection needs n_features ≥ 1, rfe_step ≥ 1, cv_folds ≥ 2, 0 < fdr_alpha ≤ 1, bootstrap ≥ 0."
        )
    if rcfg.n_workers is not None and rcfg.n_workers < 1:
        raise InvalidInputError(
            f"{path}: n_workers must be ≥ 1 (or null: one per core), got {rcfg.n_workers}."
        )
    if not rcfg.maps.mask_dilation_mm >= 0:
        raise InvalidInputError(
            f"{path}: maps.mask_dilation_mm must be ≥ 0, got {rcfg.maps.mask_dilation_mm}."
        )
    return dataclasses.replace(rcfg, source=str(path))


def load_params(path: str | Path) -> dict[str, Any]:
    """A PyRadiomics params YAML as a dict (pdacrad's optional ``pdacrad:`` section kept).

    Raises:
        InvalidInputError: the file is missing, not a mapping, or fails PyRadiomics' schema.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"radiomics params file not found: {path}.")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise InvalidInputError(f"radiomics params file {path} must hold a mapping of PyRadiomics sections.")
    from pdacrad.radiomics.settings import settings_from_dict

    settings_from_dict(data, where=str(path))  # PyRadiomics' own schema: fail here, not on every worker
    return data
