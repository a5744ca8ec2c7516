"""Two-stage nnU-Net inference (Stage 1 pancreas → ROI → Stage 2 → lesion candidates): the pipeline
(``pipeline``, ``stages``, ``predictor``, ``radiomics_inputs``, ``resample``, ``device``, ``config``), one
Grand-Challenge case (``case``: what ``process.py`` and ``pdacrad predict`` run), the cohort runner (``cohort``) and
the case report (``report``). Neither parses arguments nor configures logging (that is :mod:`pdacrad.cli`)."""

from pdacrad.inference.config import InferenceConfig
from pdacrad.inference.pipeline import Pipeline, PipelineResult, Stage2Pipeline
from pdacrad.inference.stages import Stage2Inputs

__all__ = ["InferenceConfig", "Pipeline", "PipelineResult", "Stage2Inputs", "Stage2Pipeline"]
