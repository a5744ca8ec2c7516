"""The two-stage PDAC detection pipeline: Stage 1 pancreas → largest component → ROI crop (mm margins, clipped)
→ Stage 2 softmax → tumour probability inside the dilated pancreas → lesion candidates → likelihood → detection
map pasted back into the input CT's geometry."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import SimpleITK as sitk
import torch

from pdacrad.errors import ResourceError
from pdacrad.inference.config import InferenceConfig
from pdacrad.inference.device import resolve_device
from pdacrad.inference.predictor import StageModel
from pdacrad.inference.radiomics_inputs import RadiomicsStage2
from pdacrad.inference.stages import Stage2Inputs, run_stage1, run_stage2
from pdacrad.nnunet_ext.picai_selection import preferred_checkpoint_name
from pdacrad.postprocessing import (
    extract_candidates,
    pancreas_region,
    paste_into_reference,
    restrict_to_region,
    zeros_like_reference,
)
from pdacrad.preprocessing.roi import RoiBox, largest_component, roi_from_mask
from pdacrad.resources import STAGE1_DIRNAME, STAGE2_DIRNAME, ResourceManifest, verify_resources

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineResult:
    """Output of one case.

    Attributes:
        detection_map: float32 image with the input's size/spacing/origin/direction; lesion confidence in [0, 1].
        likelihood: case-level PDAC likelihood in [0, 1] (max of the map; the no-pancreas value when none found).
        pancreas_found: whether Stage 1 found any pancreas voxel.
        roi: the Stage-2 box on the input grid (SimpleITK x, y, z order), ``None`` without pancreas.
        pancreas_mask: uint8 0/1 image on the input grid: the largest Stage-1 pancreas component.
        seconds: wall-clock seconds per step (``stage1``, ``roi``, ``radiomics`` for a radiomics Stage 2,
            ``stage2``, ``postprocess``).
    """

    detection_map: sitk.Image
    likelihood: float
    pancreas_found: bool
    roi: RoiBox | None
    pancreas_mask: sitk.Image
    seconds: Mapping[str, float]


class Pipeline:
    """Verifies ``resources/``, resolves the device, and loads both models once; :meth:`predict` then runs any
    number of cases sequentially in this process."""

    def __init__(self, config: InferenceConfig) -> None:
        self.config = config
        self.manifest: ResourceManifest = verify_resources(config.resources_dir)
        self.device: torch.device = resolve_device(config.device)
        self.stage1 = self._load(STAGE1_DIRNAME)
        self.stage2 = self._load(STAGE2_DIRNAME)
        if self.stage1.info.num_input_channels != 1:
            raise ResourceError(
                f"{self.stage1.info.folder} must take the CT alone, not {self.stage1.info.num_input_channels} channels"
            )
        self.radiomics = RadiomicsStage2.for_model(
            config.resources_dir, self.stage2.info.folder, self.stage2.info.configuration, str(self.device)
        )
        fed = 1 + (len(self.radiomics.spec.map_features) if self.radiomics else 0)
        if self.stage2.info.num_input_channels != fed:
            raise ResourceError(
                f"{self.stage2.info.folder} takes {self.stage2.info.num_input_channels} input channels; this "
                f"package feeds it {fed} (CT + the map_features of radiomics.json, if any)"
            )

    def _load(self, stage_dirname: str) -> StageModel:
        cfg = self.config
        folder = cfg.resources_dir / stage_dirname
        # a PI-CAI-selected checkpoint (radiomics trainer) wins over the configured names when every fold has it
        names = tuple(dict.fromkeys((preferred_checkpoint_name(folder), *cfg.checkpoint_names)))
        return StageModel.load(
            folder,
            self.device,
            checkpoint_names=names,
            tile_step_size=cfg.tile_step_size,
            use_mirroring=cfg.use_mirroring,
            show_progress=cfg.show_progress,
        )

    def stage2_inputs(self, ct_roi: sitk.Image, ct: sitk.Image, pancreas: sitk.Image) -> Stage2Inputs:
        """The Stage-2 input for an ROI crop: the CT alone for a plain model; for the radiomics model also its
        parametric maps (channels in radiomics.json order) and z-scored global vector of the pancreas."""
        if self.radiomics is None:
            return Stage2Inputs(ct=ct_roi)
        vector, maps = self.radiomics.inputs(ct, pancreas, ct_roi)
        return Stage2Inputs(ct=ct_roi, extra_channels=tuple(maps), global_vector=vector)

    def predict(self, ct: sitk.Image) -> PipelineResult:
        """Run both stages on one CT (HU, any 3-D geometry) and return the detection map and likelihood."""
        cfg = self.config
        seconds: dict[str, float] = {}
        t0 = time.perf_counter()
        pancreas = largest_component(run_stage1(self.stage1, ct))
        seconds["stage1"] = time.perf_counter() - t0
        n_pancreas = int(np.count_nonzero(sitk.GetArrayViewFromImage(pancreas)))
        if n_pancreas == 0:
            logger.warning(
                "Stage 1 found no pancreas: writing an all-zero detection map and likelihood %.3f",
                cfg.no_pancreas_likelihood,
            )
            return PipelineResult(
                zeros_like_reference(ct),
                cfg.no_pancreas_likelihood,
                False,
                None,
                pancreas,
                MappingProxyType(seconds),
            )
        t0 = time.perf_counter()
        roi = roi_from_mask(pancreas, cfg.roi_margins_mm)
        ct_roi = roi.crop(ct)
        seconds["roi"] = time.perf_counter() - t0
        logger.info("pancreas: %d voxels; ROI index %s size %s (x, y, z)", n_pancreas, roi.index, roi.size)
        t0 = time.perf_counter()
        inputs = self.stage2_inputs(ct_roi, ct, pancreas)
        if self.radiomics is not None:
            seconds["radiomics"] = time.perf_counter() - t0
            t0 = time.perf_counter()
        stage2 = run_stage2(self.stage2, inputs, cfg.tumour_label)
        seconds["stage2"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        region = pancreas_region(stage2.labels, cfg.pancreas_region_labels, cfg.dilation_cube_voxels)
        candidates = extract_candidates(restrict_to_region(stage2.tumour_probability, region))
        detection_map = paste_into_reference(ct, candidates.detection_map, ct_roi)
        seconds["postprocess"] = time.perf_counter() - t0
        logger.info(
            "%d lesion candidate(s), likelihood %.4f", len(candidates.confidences), candidates.likelihood
        )
        return PipelineResult(
            detection_map, candidates.likelihood, True, roi, pancreas, MappingProxyType(seconds)
        )
