"""The two-stage PDAC detection pipeline: Stage 1 pancreas → :class:`Stage2Pipeline` (radiomics pancreas = largest
component → ROI crop with the model's mm margins → radiomics inputs the model takes → Stage 2 softmax → tumour
probability inside the dilated pancreas (the parts connected to the Stage-1 pancreas) → lesion candidates → likelihood → detection map pasted back into the
input CT's geometry) → the model's likelihood calibration (``calibration.json``, optional; :func:`calibrate_result`).

How the Stage-2 inputs are made comes from the model's ``radiomics.json`` (``inputs``: base, maps, global, both;
``preprocessing``: ROI margins, pancreas rule, map-mask dilation), so that inference prepares a case exactly as the
training tree prepared the model's training cases. A model folder without ``radiomics.json`` is a plain CT model
with the default preprocessing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import SimpleITK as sitk
import torch

from pdacrad.errors import InvalidInputError, ResourceError
from pdacrad.inference.config import ALLOW_NON_CT_ENV, InferenceConfig
from pdacrad.inference.device import resolve_device
from pdacrad.inference.predictor import StageModel
from pdacrad.inference.radiomics_inputs import RadiomicsStage2, base_spec, radiomics_pancreas
from pdacrad.inference.stages import Stage2Inputs, run_stage1, run_stage2
from pdacrad.model.calibration import LikelihoodCalibration, load_resources_calibration
from pdacrad.model.checks import check_stage2_model, checkpoint_names
from pdacrad.model.manifest import (
    RADIOMICS_NAME,
    STAGE1_DIRNAME,
    STAGE2_DIRNAME,
    ResourceManifest,
    verify_resources,
)
from pdacrad.model.radiomics_spec import RadiomicsSpec
from pdacrad.postprocessing import (
    anchored_region,
    extract_candidates,
    pancreas_region,
    paste_into_reference,
    restrict_to_region,
    zeros_like_reference,
)
from pdacrad.preprocessing.intensity import IntensityCheck, check_ct_intensities
from pdacrad.preprocessing.roi import RoiBox, roi_from_mask

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineResult:
    """Output of one case.

    Attributes:
        detection_map: float32 image with the input's size/spacing/origin/direction; lesion confidence in [0, 1].
        likelihood: case-level PDAC likelihood in [0, 1] (max of the map; the no-pancreas value when none found).
        pancreas_found: whether Stage 1 found a pancreas of at least ``InferenceConfig.min_pancreas_ml``.
        roi: the Stage-2 box on the input grid (SimpleITK x, y, z order), ``None`` without pancreas.
        pancreas_mask: uint8 0/1 image on the input grid: the radiomics pancreas (largest Stage-1 component),
            as found even when too small to count.
        seconds: wall-clock seconds per step (``stage1`` when run by :class:`Pipeline`, ``roi``, ``radiomics``
            for a model with radiomics inputs, ``stage2``, ``postprocess``).
        warnings: what the log warned about this case (implausible intensities, pancreas not found or too small).
        intensity: the input's intensity plausibility check (:class:`Pipeline` only).
        raw_likelihood: the likelihood before the model's ``calibration.json`` map; ``None`` where none was
            applied (no calibration file, ``InferenceConfig.calibrate`` off, or no pancreas found).
    """

    detection_map: sitk.Image
    likelihood: float
    pancreas_found: bool
    roi: RoiBox | None
    pancreas_mask: sitk.Image
    seconds: Mapping[str, float]
    warnings: tuple[str, ...] = ()
    intensity: IntensityCheck | None = field(default=None, repr=False)
    raw_likelihood: float | None = None


def calibrate_result(result: PipelineResult, calibration: LikelihoodCalibration) -> PipelineResult:
    """``result`` with its likelihood *and* every lesion value of its detection map mapped by ``calibration``,
    so that the likelihood is still the max lesion confidence of the map (the map is increasing) and the
    background stays 0 (0 is a fixed point). A case without pancreas keeps the configured no-pancreas
    likelihood: it is a documented constant, not a model score."""
    if not result.pancreas_found:
        return result
    values = sitk.GetArrayFromImage(result.detection_map)  # (z, y, x), float32
    lesion = values > 0
    values[lesion] = calibration.apply(values[lesion]).astype(values.dtype)
    detection_map = sitk.GetImageFromArray(values)
    detection_map.CopyInformation(result.detection_map)
    return replace(
        result,
        detection_map=detection_map,
        likelihood=float(calibration.apply(result.likelihood)),
        raw_likelihood=result.likelihood,
    )


@dataclass(frozen=True)
class Stage2Case:
    """The Stage-2 input of one case, as :meth:`Stage2Pipeline.prepare` made it.

    Attributes:
        pancreas: the radiomics pancreas (uint8 0/1, full input grid).
        pancreas_ml: its volume in mL.
        roi: the ROI box on the input grid, ``None`` when the pancreas was not found (or too small).
        inputs: CT crop + radiomics inputs the model takes, ``None`` without ROI.
        warnings: warnings logged while preparing.
        seconds: ``roi`` and, for a model with radiomics inputs, ``radiomics``.
    """

    pancreas: sitk.Image
    pancreas_ml: float
    roi: RoiBox | None
    inputs: Stage2Inputs | None
    warnings: tuple[str, ...]
    seconds: Mapping[str, float]


class Stage2Pipeline:
    """One Stage-2 model folder with its ``radiomics.json``, loaded once: from a CT and its raw Stage-1 mask to
    the detection map and likelihood."""

    def __init__(
        self, model: StageModel, spec: RadiomicsSpec, config: InferenceConfig, map_device: str
    ) -> None:
        self.model = model
        self.spec = spec
        self.config = config
        self.radiomics = RadiomicsStage2(spec, map_device) if spec.variant != "base" else None

    @classmethod
    def load(
        cls,
        model_folder: Path,
        radiomics_json: Path | None,
        config: InferenceConfig,
        device: torch.device,
        folds: Sequence[str] | None = None,
        map_device: str | None = None,
    ) -> Stage2Pipeline:
        """Load a Stage-2 model folder (every fold, or only ``folds`` such as ``("fold_2",)``) and check it
        against ``radiomics_json`` (``None``: a plain CT model with default preprocessing). Maps are computed on
        ``map_device`` (``None``: the network's ``device``).

        Raises:
            ResourceError: unreadable files, or a model whose inputs differ from what ``radiomics.json`` feeds
                (naming both sides).
        """
        folder = Path(model_folder)
        spec = RadiomicsSpec.load(radiomics_json) if radiomics_json is not None else base_spec()
        model = StageModel.load(
            folder,
            device,
            checkpoint_names=checkpoint_names(
                folder, folds, config.checkpoint_names, config.prefer_picai_checkpoint
            ),
            tile_step_size=config.tile_step_size,
            use_mirroring=config.use_mirroring,
            show_progress=config.show_progress,
            folds=folds,
            batch_mirrors=config.batch_mirrors,
        )
        where = str(radiomics_json) if radiomics_json is not None else None
        check_stage2_model(model, spec, where)
        logger.info("Stage 2 variant %s (%s)", spec.variant, where or f"no {RADIOMICS_NAME}: CT only")
        return cls(model, spec, config, map_device or str(device))

    @property
    def margins_mm(self) -> tuple[float, float, float]:
        """ROI margins in mm, physical (x, y, z): the config's override, else the model's preprocessing."""
        return self.config.roi_margins_mm or self.spec.preprocessing.roi_margins_mm_xyz

    def prepare(
        self,
        ct: sitk.Image,
        stage1_mask: sitk.Image,
        global_features: Mapping[str, float] | None = None,
        maps: Sequence[np.ndarray] | None = None,
    ) -> Stage2Case:
        """Radiomics pancreas of ``stage1_mask`` (raw Stage-1 output on ``ct``'s grid, any non-zero = pancreas),
        its volume check, the ROI with the model's margins and the Stage-2 inputs the model takes.
        ``global_features``: the case's global features already computed with the spec's params on that pancreas
        (the training tree's cache), used instead of computing them; ``maps``: likewise its raw maps on that ROI
        (:meth:`RadiomicsStage2.inputs`)."""
        seconds: dict[str, float] = {}
        t0 = time.perf_counter()
        pancreas = radiomics_pancreas(stage1_mask, self.spec.preprocessing)
        n_voxels = int(np.count_nonzero(sitk.GetArrayViewFromImage(pancreas)))
        ml = n_voxels * float(np.prod(ct.GetSpacing())) / 1000.0
        warning = self._pancreas_warning(n_voxels, ml)
        if warning is not None:
            logger.warning("%s", warning)
            return Stage2Case(pancreas, ml, None, None, (warning,), MappingProxyType(seconds))
        roi = roi_from_mask(pancreas, self.margins_mm)
        ct_roi = roi.crop(ct)
        seconds["roi"] = time.perf_counter() - t0
        logger.info(
            "roi: %.1f s (pancreas %d voxels, %.1f mL; ROI index %s size %s (x, y, z), margins %s mm)",
            seconds["roi"],
            n_voxels,
            ml,
            roi.index,
            roi.size,
            self.margins_mm,
        )
        inputs = Stage2Inputs(ct=ct_roi)
        if self.radiomics is not None:
            t0 = time.perf_counter()
            vector, channels = self.radiomics.inputs(ct, pancreas, ct_roi, global_features, maps)
            inputs = Stage2Inputs(ct=ct_roi, extra_channels=tuple(channels), global_vector=vector)
            seconds["radiomics"] = time.perf_counter() - t0
            logger.info(
                "radiomics: %.1f s (%s global features, %d map channel(s))",
                seconds["radiomics"],
                "no" if vector is None else len(vector),
                len(channels),
            )
        return Stage2Case(pancreas, ml, roi, inputs, (), MappingProxyType(seconds))

    def _pancreas_warning(self, n_voxels: int, ml: float) -> str | None:
        fallback = (
            f"writing an all-zero detection map and likelihood {self.config.no_pancreas_likelihood:.3f}"
        )
        if n_voxels == 0:
            return f"Stage 1 found no pancreas: {fallback}"
        if ml < self.config.min_pancreas_ml:
            return (
                f"Stage 1 found a pancreas of only {ml:.2f} mL ({n_voxels} voxels), below the plausible "
                f"{self.config.min_pancreas_ml:g} mL (InferenceConfig.min_pancreas_ml): taken as no pancreas; "
                f"{fallback}"
            )
        return None

    def predict(
        self,
        ct: sitk.Image,
        stage1_mask: sitk.Image,
        global_features: Mapping[str, float] | None = None,
    ) -> PipelineResult:
        """Stage 2 and post-processing of one CT (HU, any 3-D geometry) given its raw Stage-1 mask (same grid,
        any components). No (plausible) pancreas → all-zero map and the no-pancreas likelihood.
        ``global_features`` as in :meth:`prepare`."""
        return self.predict_prepared(ct, self.prepare(ct, stage1_mask, global_features))

    def predict_prepared(self, ct: sitk.Image, case: Stage2Case) -> PipelineResult:
        """Stage 2 and post-processing of ``ct`` from inputs :meth:`prepare` made for it — by this pipeline or by
        another loaded with the same ``radiomics.json`` (the training tree's checkpoint selection prepares a
        case once and runs every candidate checkpoint on it)."""
        cfg = self.config
        seconds = dict(case.seconds)
        if case.roi is None or case.inputs is None:
            return PipelineResult(
                zeros_like_reference(ct),
                cfg.no_pancreas_likelihood,
                False,
                None,
                case.pancreas,
                MappingProxyType(seconds),
                case.warnings,
            )
        t0 = time.perf_counter()
        stage2 = run_stage2(self.model, case.inputs, cfg.tumour_label)
        seconds["stage2"] = time.perf_counter() - t0
        logger.info(
            "stage2: %.1f s (%d input channel(s), folds %s)",
            seconds["stage2"],
            self.model.info.num_input_channels,
            ",".join(self.model.info.folds),
        )
        t0 = time.perf_counter()
        region = pancreas_region(stage2.labels, cfg.pancreas_region_labels, cfg.dilation_cube_voxels)
        if cfg.anchor_region:
            # GetArrayFromImage, not a view: the crop is a temporary image, and a view of it would outlive it
            region = anchored_region(region, sitk.GetArrayFromImage(case.roi.crop(case.pancreas)) > 0)
        candidates = extract_candidates(restrict_to_region(stage2.tumour_probability, region))
        detection_map = paste_into_reference(ct, candidates.detection_map, case.inputs.ct)
        seconds["postprocess"] = time.perf_counter() - t0
        logger.info(
            "postprocess: %.1f s (%d lesion candidate(s), likelihood %.4f)",
            seconds["postprocess"],
            len(candidates.confidences),
            candidates.likelihood,
        )
        return PipelineResult(
            detection_map,
            candidates.likelihood,
            True,
            case.roi,
            case.pancreas,
            MappingProxyType(seconds),
            case.warnings,
        )


class Pipeline:
    """Verifies ``resources/``, resolves the device, and loads Stage 1, the :class:`Stage2Pipeline`
    (``resources/radiomics.json`` if present) and the likelihood calibration (``resources/calibration.json`` if
    present and ``InferenceConfig.calibrate``) once; :meth:`predict` then runs any number of cases sequentially
    in this process."""

    def __init__(self, config: InferenceConfig) -> None:
        self.config = config
        self.manifest: ResourceManifest = verify_resources(config.resources_dir)
        self.device: torch.device = resolve_device(config.device)
        folder = config.resources_dir / STAGE1_DIRNAME
        mirroring = config.use_mirroring if config.stage1_mirroring is None else config.stage1_mirroring
        self.stage1 = StageModel.load(
            folder,
            self.device,
            checkpoint_names=checkpoint_names(
                folder, None, config.checkpoint_names, config.prefer_picai_checkpoint
            ),
            tile_step_size=config.tile_step_size,
            use_mirroring=mirroring,
            show_progress=config.show_progress,
            batch_mirrors=config.batch_mirrors,
        )
        if self.stage1.info.num_input_channels != 1:
            raise ResourceError(
                f"{self.stage1.info.folder} must take the CT alone, not {self.stage1.info.num_input_channels} channels"
            )
        radiomics_json = config.resources_dir / RADIOMICS_NAME
        self.stage2 = Stage2Pipeline.load(
            config.resources_dir / STAGE2_DIRNAME,
            radiomics_json if radiomics_json.is_file() else None,
            config,
            self.device,
        )
        self.calibration: LikelihoodCalibration | None = (
            load_resources_calibration(config.resources_dir, tuple(self.manifest.files))
            if config.calibrate
            else None
        )

    def predict(self, ct: sitk.Image, source: str = "the input") -> PipelineResult:
        """Run both stages on one CT (HU, any 3-D geometry) and return the detection map and likelihood, both
        calibrated when the model has a calibration (:func:`calibrate_result`; the raw likelihood is kept in
        :attr:`PipelineResult.raw_likelihood`).

        Raises:
            InvalidInputError: ``ct``'s values are not HU at all (an MR, a CT with an offset; ``source`` names it
                in the message), unless the config's ``allow_non_ct``. Unusual but plausible CT runs with a
                warning in the log and in :attr:`PipelineResult.warnings`.
        """
        warnings: list[str] = []
        intensity = check_ct_intensities(ct)
        if not intensity.in_hu and not self.config.allow_non_ct:
            raise InvalidInputError(
                f"{source} does not look like a CT in Hounsfield units ({intensity.not_hu_reason}); nothing was "
                f"scored. Give a CT in HU, or run it anyway with --allow-non-ct (container: {ALLOW_NON_CT_ENV}=1)"
            )
        if not intensity.looks_like_hu or not intensity.in_hu:
            problems = (
                intensity.problems if intensity.in_hu else (intensity.not_hu_reason, *intensity.problems)
            )
            warnings.append("the input does not look like a CT in Hounsfield units: " + "; ".join(problems))
            logger.warning("%s", warnings[-1])
        t0 = time.perf_counter()
        stage1_mask = run_stage1(self.stage1, ct)
        stage1_seconds = time.perf_counter() - t0
        logger.info(
            "stage1: %.1f s (%d pancreas voxel(s) before the largest component)",
            stage1_seconds,
            int(np.count_nonzero(sitk.GetArrayViewFromImage(stage1_mask))),
        )
        result = self.stage2.predict(ct, stage1_mask)
        if self.calibration is not None:
            result = calibrate_result(result, self.calibration)
            logger.info("likelihood %.4f, calibrated %.4f", result.raw_likelihood, result.likelihood)
        return PipelineResult(
            result.detection_map,
            result.likelihood,
            result.pancreas_found,
            result.roi,
            result.pancreas_mask,
            MappingProxyType({"stage1": stage1_seconds, **result.seconds}),
            (*warnings, *result.warnings),
            intensity,
            result.raw_likelihood,
        )
