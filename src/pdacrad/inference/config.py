"""Configuration of the two-stage inference pipeline (one frozen dataclass, loaded once)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pdacrad.postprocessing.tumour import DILATION_CUBE_VOXELS, PANCREAS_REGION_LABELS

NO_PANCREAS_LIKELIHOOD = 0.0
"""Case likelihood reported when Stage 1 finds no pancreas (the detection map is then all zeros)."""

#: Environment variable that sets ``--allow-non-ct`` (for the container, whose command line GC fixes).
ALLOW_NON_CT_ENV = "PDACRAD_ALLOW_NON_CT"

MIN_PANCREAS_ML = 5.0
"""Smallest Stage-1 pancreas (largest component) taken as found, in mL. An adult pancreas is ~50–100 mL, an
atrophic one rarely below ~20 mL; a few mL is what a model "finds" in a volume without anatomy (e.g. noise)."""


@dataclass(frozen=True)
class InferenceConfig:
    """Everything the pipeline needs besides the image.

    Attributes:
        resources_dir: the packaged model folder (``manifest.json``, ``stage1/``, ``stage2/``, optional
            ``radiomics.json``).
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``; resolved once.
        tile_step_size: nnU-Net sliding-window step as a fraction of the patch size (0.5 = nnU-Net default).
        use_mirroring: nnU-Net mirroring test-time augmentation on the axes the checkpoint allows.
        stage1_mirroring: the same for Stage 1 alone (``None``: ``use_mirroring``). Off, Stage 1 costs ~1/8 of
            its network time (the pancreas mask only places the ROI and the radiomics pancreas).
        batch_mirrors: run a tile's mirrored copies as one batch (``None``: on CPU only; same logits).
        roi_margins_mm: override of the Stage-2 ROI margins in mm, physical (x, y, z) order; ``None`` (default) =
            the margins the model was trained with (``radiomics.json`` ``preprocessing.roi_margins_mm_xyz``,
            PANORAMA's 100, 50, 15 without one).
        tumour_label: Stage-2 label whose softmax channel is the tumour probability (PANORAMA: 1 = PDAC).
        pancreas_region_labels: Stage-2 labels forming the region the tumour probability is kept in.
        dilation_cube_voxels: edge of the cube (voxels) that dilates that region.
        anchor_region: keep only the parts of that region connected to the pancreas Stage 1 found
            (:func:`pdacrad.postprocessing.anchored_region`): a blob Stage 2 calls PDAC apart from the pancreas is
            dropped (the default since the held-aside test of ``benchmarks/RESULTS.md``, "The learning gate, second
            run"). ``False``: the PANORAMA baseline's region as it is.
        no_pancreas_likelihood: likelihood written when Stage 1 finds no pancreas.
        min_pancreas_ml: a Stage-1 pancreas (largest component) smaller than this, in mL, counts as not found
            (with a warning); 0 accepts any non-empty one.
        checkpoint_names: checkpoint files looked for in each ``fold_*`` folder, first found wins (after
            ``checkpoint_best_picai.pth`` where every used fold has it and ``prefer_picai_checkpoint``).
        prefer_picai_checkpoint: try ``checkpoint_best_picai.pth`` (the PI-CAI-selected checkpoint) before
            ``checkpoint_names`` where every used fold has one; ``False``: ``checkpoint_names`` only.
        show_progress: tqdm bars for nnU-Net's sliding windows.
        allow_non_ct: run an input whose values are not HU at all
            (:attr:`pdacrad.preprocessing.intensity.IntensityCheck.in_hu` false: an MR, a CT stored with an offset)
            with a warning, instead of refusing it with :class:`~pdacrad.errors.InvalidInputError`.
        calibrate: apply the model's ``calibration.json`` to the likelihood and detection map when it has one;
            ``False`` gives the raw Stage-2 scores (what fitting a calibration needs).
    """

    resources_dir: Path
    device: str = "auto"
    tile_step_size: float = 0.5
    use_mirroring: bool = True
    stage1_mirroring: bool | None = None
    batch_mirrors: bool | None = None
    roi_margins_mm: tuple[float, float, float] | None = None
    tumour_label: int = 1
    pancreas_region_labels: tuple[int, ...] = PANCREAS_REGION_LABELS
    dilation_cube_voxels: int = DILATION_CUBE_VOXELS
    anchor_region: bool = True
    no_pancreas_likelihood: float = NO_PANCREAS_LIKELIHOOD
    min_pancreas_ml: float = MIN_PANCREAS_ML
    checkpoint_names: tuple[str, ...] = ("checkpoint_final.pth", "checkpoint_best.pth")
    prefer_picai_checkpoint: bool = True
    show_progress: bool = True
    allow_non_ct: bool = False
    calibrate: bool = True
