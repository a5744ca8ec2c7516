"""Evaluation of detection predictions with the PI-CAI / PANORAMA metrics (``picai_eval``): per fold and pooled,
bootstrap CIs, paired tests of ablation variants against the baseline, ROC/PR/FROC plots and an HTML report.

Modules by job: ``metrics`` (picai_eval calls), ``study`` (variants × folds), ``calibration`` (Brier,
reliability), ``subgroups`` (AUROC per lesion kind, size, confounder from a case table), ``casefigures``
(pictures where variants disagree), ``plots``, ``html``, ``output``. Where predictions and labels live on disk is
:mod:`pdacrad.io.predictions`; bootstrap, paired bootstrap and DeLong are :mod:`pdacrad.stats`.
"""

from pdacrad.evaluation.metrics import DetectionScores, evaluate_cases
from pdacrad.evaluation.output import CaseSources, EvaluationFiles, write_evaluation
from pdacrad.evaluation.study import EvaluationConfig, EvaluationResult, evaluate_predictions
from pdacrad.evaluation.subgroups import read_case_table
from pdacrad.io.predictions import CasePrediction, discover_predictions
from pdacrad.stats import ConfidenceInterval, PairedTest, delong_test, paired_bootstrap_test

__all__ = [
    "CasePrediction",
    "CaseSources",
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
    "read_case_table",
    "write_evaluation",
]
