"""Model comparison by nested cross-validation: LASSO-logistic, SVM, random forest, XGBoost and MLP on the
selected radiomics features (optionally with clinical variables).

Each candidate is a scikit-learn ``Pipeline`` (median imputation → z-score → classifier) tuned by an inner
``GridSearchCV`` (AUROC); the outer loop is ``sklearn.model_selection.cross_validate`` over stratified folds, so
every fit — imputer, scaler, tuning, classifier — sees the outer training cases only, and each case gets one
out-of-fold probability. Pooled out-of-fold AUROC / AP get bootstrap 95% CIs; every model is compared with the
best by DeLong's test. The best model is refitted on all cases for a SHAP summary (:func:`shap_values`).

The SVM's probability is Platt-scaled by ``CalibratedClassifierCV`` (``SVC(probability=True)`` is deprecated
in scikit-learn 1.9).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics_stats.discrimination import auroc, average_precision

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from pdacrad.stats import ConfidenceInterval

logger = logging.getLogger(__name__)

MODEL_NAMES = ("lasso", "svm", "random_forest", "xgboost", "mlp")


@dataclass(frozen=True)
class ComparisonConfig:
    """Nested-CV settings: outer/inner stratified folds, bootstrap resamples for the CIs, tree count of the
    forest and boosting models, and which of :data:`MODEL_NAMES` to run."""

    models: tuple[str, ...] = MODEL_NAMES
    outer_folds: int = 5
    inner_folds: int = 3
    n_bootstrap: int = 1000
    n_estimators: int = 300
    seed: int = 0


@dataclass(frozen=True)
class ModelSpec:
    """A classifier (``predict_proba``) and its hyper-parameter grid (keys without the pipeline prefix)."""

    estimator: Any
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelResult:
    """Out-of-fold results of one model: probabilities (cases in input order), AUROC / AP with 95% CIs, the
    DeLong comparison with the best model (difference best − this, p), and the parameters chosen per fold."""

    name: str
    probability: np.ndarray
    auroc: ConfidenceInterval
    average_precision: ConfidenceInterval
    delong_difference: float
    delong_p: float
    chosen_params: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class ComparisonResult:
    """All models' results, the best model's name (highest out-of-fold AUROC) and the outer fold of each case."""

    results: tuple[ModelResult, ...]
    best: str
    outer_fold: np.ndarray

    def table(self) -> pd.DataFrame:
        """One row per model: AUROC / AP with CIs, DeLong difference and p versus the best."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "model": r.name,
                    "auroc": r.auroc.estimate,
                    "auroc_ci_low": r.auroc.low,
                    "auroc_ci_high": r.auroc.high,
                    "ap": r.average_precision.estimate,
                    "ap_ci_low": r.average_precision.low,
                    "ap_ci_high": r.average_precision.high,
                    "delong_diff_vs_best": r.delong_difference,
                    "delong_p_vs_best": r.delong_p,
                }
                for r in self.results
            ]
        )


def default_models(config: ComparisonConfig) -> dict[str, ModelSpec]:
    """The five candidates with small grids (regularisation strength, depth, width)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC
    from xgboost import XGBClassifier

    seed = config.seed
    specs = {
        "lasso": ModelSpec(
            LogisticRegression(l1_ratio=1.0, solver="liblinear", max_iter=5000, random_state=seed),
            {"C": [0.01, 0.1, 1.0, 10.0]},
        ),
        "svm": ModelSpec(
            CalibratedClassifierCV(SVC(kernel="rbf", random_state=seed), method="sigmoid", cv=3),
            {"estimator__C": [0.1, 1.0, 10.0]},
        ),
        "random_forest": ModelSpec(
            RandomForestClassifier(n_estimators=config.n_estimators, random_state=seed, n_jobs=1),
            {"max_depth": [3, None]},
        ),
        "xgboost": ModelSpec(
            XGBClassifier(
                n_estimators=config.n_estimators,
                learning_rate=0.05,
                random_state=seed,
                n_jobs=1,
                eval_metric="logloss",
            ),
            {"max_depth": [2, 4]},
        ),
        "mlp": ModelSpec(
            MLPClassifier(hidden_layer_sizes=(32,), max_iter=2000, early_stopping=False, random_state=seed),
            {"alpha": [1e-3, 1e-1]},
        ),
    }
    unknown = set(config.models) - set(specs)
    if unknown:
        raise InvalidInputError(f"unknown model(s) {sorted(unknown)}; choose from {MODEL_NAMES}")
    return {name: specs[name] for name in config.models}


def tuned_pipeline(spec: ModelSpec, inner_folds: int, seed: int) -> Any:
    """``GridSearchCV`` (AUROC, stratified inner folds) over imputer → scaler → ``spec.estimator``."""
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = Pipeline(
        [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler()), ("model", spec.estimator)]
    )
    grid = {f"model__{k}": list(v) for k, v in spec.grid.items()} or {"model__random_state": [seed]}
    inner = StratifiedKFold(inner_folds, shuffle=True, random_state=seed)
    return GridSearchCV(pipeline, grid, scoring="roc_auc", cv=inner, refit=True, n_jobs=1)


def compare_models(
    x: np.ndarray | pd.DataFrame,
    y: np.ndarray,
    config: ComparisonConfig | None = None,
    models: Mapping[str, ModelSpec] | None = None,
) -> ComparisonResult:
    """Nested CV of each model on features ``x`` (cases × features) and binary labels ``y`` (0/1).

    ``models`` replaces the default candidates (e.g. for tests); names are free then.
    """
    import numpy as np
    from sklearn.model_selection import StratifiedKFold, cross_validate
    from tqdm.auto import tqdm

    config = config or ComparisonConfig()
    x_arr = np.asarray(x, dtype=np.float64)
    y_arr = np.asarray(y).astype(int)
    if set(np.unique(y_arr)) != {0, 1}:
        raise InvalidInputError("model comparison: labels must be binary 0/1 with both classes present")
    specs = dict(models) if models is not None else default_models(config)
    outer = StratifiedKFold(config.outer_folds, shuffle=True, random_state=config.seed)
    outer_fold = np.empty(len(y_arr), dtype=int)
    for k, (_, test) in enumerate(outer.split(x_arr, y_arr)):
        outer_fold[test] = k

    probabilities: dict[str, np.ndarray] = {}
    chosen: dict[str, tuple[dict[str, Any], ...]] = {}
    for name, spec in tqdm(specs.items(), desc="models", unit="model", leave=False):
        search = tuned_pipeline(spec, config.inner_folds, config.seed)
        cv = cross_validate(
            search,
            x_arr,
            y_arr,
            cv=outer,
            scoring="roc_auc",
            return_estimator=True,
            return_indices=True,
            n_jobs=1,
        )
        probability = np.full(len(y_arr), np.nan)
        for fitted, test in zip(cv["estimator"], cv["indices"]["test"], strict=True):
            probability[test] = fitted.predict_proba(x_arr[test])[:, 1]
        probabilities[name] = probability
        chosen[name] = tuple(fitted.best_params_ for fitted in cv["estimator"])
        logger.info("%s: out-of-fold AUROC %.3f", name, float(np.mean(cv["test_score"])))

    aurocs = {n: auroc(y_arr, p, config.n_bootstrap, config.seed) for n, p in probabilities.items()}
    best = max(aurocs, key=lambda n: aurocs[n].estimate)
    results = []
    for name, probability in probabilities.items():
        difference, p = (
            (0.0, 1.0) if name == best else _delong_vs_best(y_arr, probabilities[best], probability)
        )
        results.append(
            ModelResult(
                name,
                probability,
                aurocs[name],
                average_precision(y_arr, probability, config.n_bootstrap, config.seed),
                difference,
                p,
                chosen[name],
            )
        )
    return ComparisonResult(tuple(results), best, outer_fold)


def _delong_vs_best(y: np.ndarray, best: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """DeLong's test of a model against the best one: ``(AUC_best − AUC_other, two-sided p)``."""
    from pdacrad.stats import delong_test

    test = delong_test(y, other, best)
    return test.difference, test.p_value


def fit_final(spec: ModelSpec, x: np.ndarray, y: np.ndarray, config: ComparisonConfig) -> Any:
    """The tuned pipeline of ``spec`` refitted on all cases (inner-CV tuning on all cases)."""
    import numpy as np

    search = tuned_pipeline(spec, config.inner_folds, config.seed)
    return search.fit(np.asarray(x, dtype=np.float64), np.asarray(y).astype(int)).best_estimator_


def shap_values(
    model: Any, x: pd.DataFrame, n_samples: int = 100, n_background: int = 50, seed: int = 0
) -> Any:
    """SHAP values of ``model``'s positive-class probability for up to ``n_samples`` cases of ``x``.

    Model-agnostic (shap's permutation explainer with an independent masker of ``n_background`` cases), so the
    same code explains any of the candidates through its whole pipeline. Returns a ``shap.Explanation``.
    """
    import numpy as np
    import shap

    rng = np.random.default_rng(seed)
    explain = x.iloc[rng.permutation(len(x))[: min(n_samples, len(x))]]
    background = x.iloc[rng.permutation(len(x))[: min(n_background, len(x))]]

    def positive_probability(values: np.ndarray) -> np.ndarray:
        return model.predict_proba(np.asarray(values, dtype=np.float64))[:, 1]

    explainer = shap.explainers.Permutation(
        positive_probability,
        shap.maskers.Independent(background.to_numpy(np.float64)),
        feature_names=list(x.columns),
        seed=seed,
    )
    return explainer(explain.to_numpy(np.float64), max_evals=2 * x.shape[1] + 1, silent=True)
