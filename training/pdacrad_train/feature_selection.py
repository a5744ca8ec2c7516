"""The leakage-proof selection of global radiomics features: one scikit-learn pipeline, cross-validated.

Everything the selection learns — which columns are usable, the z-score, the univariate filter, the SVM-RFE,
the SVM — is a step of one :class:`~sklearn.pipeline.Pipeline`, fitted by ``Pipeline.fit`` on the rows it is
given and nothing else::

    FiniteColumns → StandardScaler → FDRFilter (Mann–Whitney U or Welch t-test, Benjamini–Hochberg)
                  → RFE(LinearSVC) to n features (its final SVM is the radiomics-only classifier)

:func:`cross_validate` fits a fresh pipeline per fold on that fold's training rows and scores its held-out rows.
The ``select`` step (:mod:`pdacrad_train.steps.radiomics.select`) decides on which cases.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.feature_selection import RFE, SelectorMixin
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from statsmodels.stats.multitest import multipletests
from tqdm import tqdm

from pdacrad.errors import InvalidInputError
from pdacrad.model.radiomics_spec import ModelInputs, Preprocessing, RadiomicsSpec, is_shape_feature
from pdacrad_train.map_cache import image_type_key
from pdacrad_train.radiomics_config import RadiomicsConfig, SelectionConfig

logger = logging.getLogger(__name__)

#: A fold as (training row indices, held-out row indices).
Fold = tuple[np.ndarray, np.ndarray]


class FiniteColumns(TransformerMixin, BaseEstimator):
    """Keep the columns that are finite in every training row and not constant; in later rows a non-finite
    value is replaced by the training mean of its column (so a case with a failed feature still scores)."""

    def fit(self, X: np.ndarray, y: Any = None) -> FiniteColumns:
        X = np.asarray(X, dtype=np.float64)
        finite = np.isfinite(X).all(axis=0)
        spread = np.zeros(X.shape[1], dtype=bool)
        spread[finite] = X[:, finite].std(axis=0) > 0
        self.support_ = finite & spread
        self.mean_ = X[:, self.support_].mean(axis=0)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = np.array(np.asarray(X, dtype=np.float64)[:, self.support_])
        bad = ~np.isfinite(X)
        X[bad] = np.broadcast_to(self.mean_, X.shape)[bad]
        return X

    def get_support(self) -> np.ndarray:
        return self.support_


class FDRFilter(SelectorMixin, BaseEstimator):
    """Univariate two-sample test per column (label 1 vs 0), Benjamini–Hochberg corrected; keeps the columns
    with q ≤ ``alpha``. If none pass, keeps the ``min_keep`` smallest p-values (with a warning) so that a weak
    cohort still yields a model whose CV score then says how weak it is."""

    def __init__(self, test: str = "mannwhitneyu", alpha: float = 0.05, min_keep: int = 10) -> None:
        self.test = test
        self.alpha = alpha
        self.min_keep = min_keep

    def fit(self, X: np.ndarray, y: np.ndarray) -> FDRFilter:
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
        positive, negative = X[y == 1], X[y == 0]
        if self.test == "mannwhitneyu":
            p = stats.mannwhitneyu(positive, negative, axis=0, method="asymptotic").pvalue
        elif self.test == "ttest":
            p = stats.ttest_ind(positive, negative, axis=0, equal_var=False).pvalue
        else:
            raise InvalidInputError(f"selection.test: {self.test!r} is not 'mannwhitneyu' or 'ttest'.")
        self.pvalues_ = np.nan_to_num(np.asarray(p, dtype=np.float64), nan=1.0)
        reject, self.qvalues_, _, _ = multipletests(self.pvalues_, alpha=self.alpha, method="fdr_bh")
        if not reject.any():
            logger.warning(
                "no feature passes FDR %.3g; keeping the %d smallest p-values", self.alpha, self.min_keep
            )
            reject = np.zeros_like(reject)
            reject[np.argsort(self.pvalues_, kind="stable")[: self.min_keep]] = True
        elif reject.sum() < self.min_keep:
            logger.info(
                "%d feature(s) pass FDR %.3g, fewer than %d: RFE keeps them all",
                reject.sum(),
                self.alpha,
                self.min_keep,
            )
        self.support_ = reject
        self.n_features_in_ = X.shape[1]
        return self

    def _get_support_mask(self) -> np.ndarray:
        return self.support_


class SVMRFE(RFE):
    """scikit-learn's RFE, also defined for a single input column (RFE itself needs two): then that column is
    kept and the estimator fitted on it — the case of an FDR filter that lets one feature through."""

    def fit(self, X: np.ndarray, y: np.ndarray, **fit_params: Any) -> SVMRFE:
        X = np.asarray(X, dtype=np.float64)
        if X.shape[1] != 1:
            super().fit(X, y, **fit_params)
            return self
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.support_, self.ranking_ = np.ones(1, dtype=bool), np.ones(1, dtype=int)
        self.n_features_, self.n_features_in_ = 1, 1
        return self


def selection_pipeline(s: SelectionConfig) -> Pipeline:
    """An unfitted pipeline: usable columns → z-score → FDR filter → SVM-RFE to ``s.n_features`` (+ SVM)."""
    svm = LinearSVC(C=s.svm_c, dual="auto", max_iter=20000, random_state=s.seed)
    return Pipeline(
        [
            ("finite", FiniteColumns()),
            ("scale", StandardScaler()),
            ("fdr", FDRFilter(s.test, s.fdr_alpha, s.n_features)),
            ("rfe", SVMRFE(svm, n_features_to_select=s.n_features, step=s.rfe_step)),
        ]
    )


def fit_pipeline(s: SelectionConfig, X: np.ndarray, y: np.ndarray) -> Pipeline:
    """A fresh :func:`selection_pipeline` fitted on ``X`` (rows = cases) and labels ``y`` (0/1) only."""
    with warnings.catch_warnings():
        # RFE warns when FDR left fewer than n_features columns; FDRFilter has logged that already.
        warnings.filterwarnings("ignore", message="Found n_features_to_select", category=UserWarning)
        return selection_pipeline(s).fit(X, y)


def selected_columns(pipeline: Pipeline) -> np.ndarray:
    """Indices of the input columns that a fitted pipeline's RFE kept, in input order."""
    keep = np.flatnonzero(pipeline.named_steps["finite"].support_)
    keep = keep[pipeline.named_steps["fdr"].support_]
    return keep[pipeline.named_steps["rfe"].support_]


def bootstrap_ci(
    y: np.ndarray, scores: np.ndarray, metric: Any, n: int, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``metric(y, scores)`` over ``n`` case resamples (resamples with one class
    are redrawn). ``(nan, nan)`` when ``n`` is 0."""
    if n == 0:
        return (float("nan"), float("nan"))
    from pdacrad.stats import bootstrap_ci as percentile_ci
    from pdacrad.stats import case_indices

    ci = percentile_ci(
        lambda i: float(metric(y[i], scores[i])), case_indices(len(y), n, seed, labels=y), level
    )
    return (ci.low, ci.high)


@dataclass(frozen=True)
class CVResult:
    """Pooled out-of-fold performance of the radiomics-only SVM.

    Attributes:
        auroc, ap: pooled over all held-out cases; ``*_ci``: 95% percentile-bootstrap CIs.
        fold_auroc: per fold (NaN where a fold's held-out cases have one class).
        fold_features: the features each fold's pipeline selected.
        scores: case → out-of-fold SVM decision value.
    """

    auroc: float
    auroc_ci: tuple[float, float]
    ap: float
    ap_ci: tuple[float, float]
    fold_auroc: tuple[float, ...]
    fold_features: tuple[tuple[str, ...], ...]
    scores: dict[str, float]

    @property
    def n_folds(self) -> int:
        return len(self.fold_auroc)

    def summary(self) -> str:
        return (
            f"AUROC {self.auroc:.3f} (95% CI {self.auroc_ci[0]:.3f}–{self.auroc_ci[1]:.3f}), "
            f"AP {self.ap:.3f} (95% CI {self.ap_ci[0]:.3f}–{self.ap_ci[1]:.3f}), "
            f"fold AUROC {np.nanmean(self.fold_auroc):.3f} ± {np.nanstd(self.fold_auroc):.3f}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "auroc": self.auroc,
            "auroc_ci95": list(self.auroc_ci),
            "ap": self.ap,
            "ap_ci95": list(self.ap_ci),
            "fold_auroc": list(self.fold_auroc),
            "fold_features": [list(f) for f in self.fold_features],
            "scores": self.scores,
        }


def cross_validate(
    X: pd.DataFrame, y: np.ndarray, folds: Sequence[Fold], s: SelectionConfig, desc: str = "cv"
) -> tuple[CVResult, list[Pipeline]]:
    """Fit a fresh pipeline on each fold's training rows only and score its held-out rows.

    ``folds`` are ``(train indices, held-out indices)`` into the rows of ``X``. Returns the pooled result and
    the fitted pipelines (one per fold).
    """
    values, names = X.to_numpy(dtype=np.float64), np.asarray(X.columns)
    scores = np.full(len(y), np.nan)
    fitted, fold_auroc, fold_features = [], [], []
    for train, held_out in tqdm(folds, desc=desc, unit="fold"):
        pipeline = fit_pipeline(s, values[train], y[train])
        scores[held_out] = pipeline.decision_function(values[held_out])
        fitted.append(pipeline)
        fold_features.append(tuple(names[selected_columns(pipeline)]))
        one_class = len(np.unique(y[held_out])) < 2
        fold_auroc.append(float("nan") if one_class else float(roc_auc_score(y[held_out], scores[held_out])))
    scored = ~np.isnan(scores)
    ys, ss = y[scored], scores[scored]
    result = CVResult(
        auroc=float(roc_auc_score(ys, ss)),
        auroc_ci=bootstrap_ci(ys, ss, roc_auc_score, s.bootstrap, s.seed),
        ap=float(average_precision_score(ys, ss)),
        ap_ci=bootstrap_ci(ys, ss, average_precision_score, s.bootstrap, s.seed + 1),
        fold_auroc=tuple(fold_auroc),
        fold_features=tuple(fold_features),
        scores={str(c): float(v) for c, v in zip(X.index[scored], ss, strict=True)},
    )
    return result, fitted


def label_stratified_folds(y: np.ndarray, n_folds: int, seed: int) -> list[Fold]:
    """Stratified k-fold indices; ``n_folds`` shrinks (with a warning) to the minority-class count."""
    minority = int(min(y.sum(), len(y) - y.sum()))
    if minority < 2:
        raise InvalidInputError(
            f"selection needs at least 2 cases of each class, got {minority} in the minority."
        )
    k = min(n_folds, minority)
    if k < n_folds:
        logger.warning(
            "only %d cases in the minority class: %d-fold instead of %d-fold CV", minority, k, n_folds
        )
    return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def spec_from_pipeline(
    pipeline: Pipeline,
    names: Sequence[str],
    params: dict[str, Any],
    rcfg: RadiomicsConfig,
    preprocessing: Preprocessing | None = None,
) -> RadiomicsSpec:
    """``radiomics.json`` from a fitted pipeline: the selected features, the scaler's mean and (population) std
    of those features (fitted on the pipeline's training cases), the non-shape ones as map channels, inputs of
    the ``both`` variant (``global`` only when every selected feature is a shape feature), and ``preprocessing``
    (default: :class:`Preprocessing` with the maps' ``mask_dilation_mm``)."""
    keep = selected_columns(pipeline)
    # Positions of the kept columns inside the scaler's input (the columns that FiniteColumns kept).
    in_scaler = np.searchsorted(np.flatnonzero(pipeline.named_steps["finite"].support_), keep)
    scaler = pipeline.named_steps["scale"]
    selected = [str(names[i]) for i in keep]
    maps = [f for f in selected if not is_shape_feature(f)]
    image_types: Mapping[str, Any] = params.get("imageType") or {"Original": {}}
    used = {image_type_key(f, image_types) for f in maps}
    map_types = {k: v or {} for k, v in image_types.items() if k in used}
    if preprocessing is None:
        preprocessing = Preprocessing(map_mask_dilation_mm=rcfg.maps.mask_dilation_mm)
    return RadiomicsSpec(
        inputs=ModelInputs(maps=bool(maps), global_vector=True),
        preprocessing=preprocessing,
        params=params,
        global_features=tuple(selected),
        mean=tuple(float(v) for v in scaler.mean_[in_scaler]),
        std=tuple(float(v) for v in scaler.scale_[in_scaler]),
        map_features=tuple(maps),
        map_params=rcfg.maps.params(map_types, sorted({f.split("_")[1] for f in maps})),
    )
