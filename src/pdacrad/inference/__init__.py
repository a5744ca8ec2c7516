"""Two-stage nnU-Net inference (Stage 1 pancreas → ROI → Stage 2 → lesion candidates) and the Grand-Challenge
entry point shared by ``process.py`` and ``pdacrad predict``."""

from pdacrad.inference.config import InferenceConfig
from pdacrad.inference.pipeline import Pipeline, PipelineResult, Stage2Pipeline
from pdacrad.inference.stages import Stage2Inputs

__all__ = ["InferenceConfig", "Pipeline", "PipelineResult", "Stage2Inputs", "Stage2Pipeline"]
