"""Evaluation of cross-validation predictions of one or more ablation variants: picai_eval metrics per fold and
pooled, stratified-bootstrap CIs of the pooled metrics, and paired tests of each variant against the baseline."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from picai_eval import Metrics
from tqdm import tqdm

from pdacrad.errors import InvalidInputError
from pdacrad.evaluation.metrics import (
    CaseArrays,
    DetectionScores,
    case_targets,
    evaluate_cases,
    metric_replicates,
    subset,
)
from pdacrad.io.predictions import (
    POOLED,
    REFERENCE_VARIANT,
    CasePrediction,
    discover_predictions,
    label_path,
)
from pdacrad.stats import (
    ConfidenceInterval,
    PairedTest,
    bootstrap_indices,
    delong_test,
    paired_bootstrap_from_replicates,
    percentile_interval,
)

logger = logging.getLogger(__name__)

METRICS: tuple[str, ...] = ("AUROC", "AP", "score")


@dataclass(frozen=True)
class EvaluationConfig:
    """How to evaluate: bootstrap replicates and seed, CI level, label value of lesions in the label maps."""

    n_bootstrap: int = 1000
    seed: int = 0
    level: float = 0.95
    lesion_label: int = 1
    reference: str = REFERENCE_VARIANT


@dataclass(frozen=True)
class VariantResult:
    """One variant: scores per fold and pooled (key :data:`~pdacrad.io.predictions.POOLED`), pooled CIs,
    and picai_eval's pooled ``Metrics`` (curves for the plots)."""

    variant: str
    scores: Mapping[str, DetectionScores]
    intervals: Mapping[str, ConfidenceInterval]
    metrics: Metrics

    @property
    def pooled(self) -> DetectionScores:
        return self.scores[POOLED]


@dataclass(frozen=True)
class Comparison:
    """Paired tests of one variant against the reference variant on their common cases."""

    variant: str
    reference: str
    tests: tuple[PairedTest, ...]


@dataclass(frozen=True)
class EvaluationResult:
    """Everything ``pdacrad-train evaluate`` reports."""

    variants: tuple[VariantResult, ...]
    comparisons: tuple[Comparison, ...]
    config: EvaluationConfig


def _evaluate_variant(cases: list[CasePrediction], labels_dir: Path, config: EvaluationConfig) -> Metrics:
    return evaluate_cases(
        [c.detection_map for c in cases],
        [label_path(labels_dir, c.case) for c in cases],
        [c.case for c in cases],
        [c.likelihood for c in cases],
        lesion_label=config.lesion_label,
    )


def _fold_scores(cases: list[CasePrediction], metrics: Metrics) -> dict[str, DetectionScores]:
    scores: dict[str, DetectionScores] = {}
    for fold in sorted({c.fold for c in cases}):
        members = [c.case for c in cases if c.fold == fold]
        fold_metrics = subset(metrics, members)
        if len(set(case_targets(fold_metrics).values())) < 2:
            logger.warning("fold %s has cases of one class only: no per-fold AUROC", fold)
            continue
        scores[fold] = DetectionScores.from_metrics(fold_metrics)
    scores[POOLED] = DetectionScores.from_metrics(metrics)
    return scores


def _check_same_cases(predictions: Mapping[str, list[CasePrediction]], reference: str) -> None:
    expected = {c.case for c in predictions[reference]}
    for variant, cases in predictions.items():
        got = {c.case for c in cases}
        if got != expected:
            missing, extra = sorted(expected - got), sorted(got - expected)
            raise InvalidInputError(
                f"variant {variant!r} must have predictions for the same cases as {reference!r} to be paired "
                f"(missing {missing[:3]}, extra {extra[:3]})."
            )


def evaluate_predictions(
    predictions_root: Path, labels_dir: Path, config: EvaluationConfig = EvaluationConfig()
) -> EvaluationResult:
    """Evaluate every variant under ``predictions_root`` (layout: :mod:`pdacrad.io.predictions`) against the
    label maps in ``labels_dir``.

    Raises:
        InvalidInputError: no predictions, a missing label, or variants predicted on different cases.
    """
    predictions = discover_predictions(predictions_root)
    has_reference = config.reference in predictions
    if not has_reference:
        logger.warning("no %r variant under %s: no paired tests", config.reference, predictions_root)
    _check_same_cases(predictions, config.reference if has_reference else next(iter(predictions)))

    pooled: dict[str, Metrics] = {}
    results = []
    for variant, cases in tqdm(predictions.items(), desc="variants", unit="variant"):
        logger.info("evaluating %s: %d cases", variant, len(cases))
        pooled[variant] = metrics = _evaluate_variant(cases, labels_dir, config)
        if len(set(case_targets(metrics).values())) < 2:
            raise InvalidInputError(f"variant {variant!r}: AUROC needs both positive and negative cases.")
        results.append((variant, cases, metrics))

    # one set of resampled cases for every variant, so that CIs and paired tests share them
    subjects = tuple(c.case for c in results[0][1])
    labels = CaseArrays.from_metrics(results[0][2], subjects).labels
    indices = bootstrap_indices(labels, config.n_bootstrap, config.seed)

    variants = []
    estimates: dict[str, dict[str, float]] = {}
    replicates: dict[str, dict[str, np.ndarray]] = {}
    for variant, cases, metrics in results:
        arrays = CaseArrays.from_metrics(metrics, subjects)
        point = DetectionScores.from_metrics(metrics)
        estimates[variant] = {"AUROC": point.auroc, "AP": point.ap, "score": point.score}
        # AP replicates (picai_eval per replicate) dominate the cost: compute once, reuse for score and tests
        auroc = metric_replicates(metrics, arrays, "AUROC", indices)
        ap = metric_replicates(metrics, arrays, "AP", indices)
        replicates[variant] = {"AUROC": auroc, "AP": ap, "score": (auroc + ap) / 2.0}
        intervals = {
            name: percentile_interval(estimates[variant][name], replicates[variant][name], config.level)
            for name in METRICS
        }
        variants.append(VariantResult(variant, _fold_scores(cases, metrics), intervals, metrics))

    comparisons = []
    if has_reference:
        ref_name = config.reference
        ref = CaseArrays.from_metrics(pooled[ref_name], subjects)
        for variant, _, metrics in results:
            if variant == ref_name:
                continue
            arrays = CaseArrays.from_metrics(metrics, subjects)
            tests = [delong_test(ref.labels, ref.scores, arrays.scores)]
            tests += [
                paired_bootstrap_from_replicates(
                    name,
                    estimates[variant][name] - estimates[ref_name][name],
                    replicates[variant][name] - replicates[ref_name][name],
                )
                for name in METRICS
            ]
            comparisons.append(Comparison(variant, ref_name, tuple(tests)))
    return EvaluationResult(tuple(variants), tuple(comparisons), config)
