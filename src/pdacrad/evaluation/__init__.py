"""Evaluation of detection predictions with the PI-CAI / PANORAMA metrics (``picai_eval``): per fold and pooled,
bootstrap CIs, paired tests of ablation variants against the baseline, ROC/PR/FROC plots and an HTML report.

Modules by job: ``layout`` (where predictions and labels live on disk), ``metrics`` (picai_eval calls),
``stats`` (bootstrap, paired bootstrap, DeLong), ``study`` (variants × folds), ``plots``, ``html``, ``output``.
"""

from pdacrad.evaluation.layout import CasePrediction, discover_predictions
from pdacrad.evaluation.metrics import DetectionScores, evaluate_cases
from pdacrad.evaluation.output import EvaluationFiles, write_evaluation
from pdacrad.evaluation.stats import ConfidenceInterval, PairedTest, delong_test, paired_bootstrap_test
from pdacrad.evaluation.study import EvaluationConfig, EvaluationResult, evaluate_predictions

__all__ = [
    "CasePrediction",
    "ConfidenceInterval",
    "DetectionScores",
    "EvaluationConfig",
    "EvaluationFiles",
    "EvaluationResult",
    "PairedTest",
    "delong_test",
    "discover_predictions",
    "evaluate_cases",
    "evaluate_predictions",
    "paired_bootstrap_test",
    "write_evaluation",
]
