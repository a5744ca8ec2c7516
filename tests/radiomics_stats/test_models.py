"""Nested-CV model comparison on the Wisconsin breast-cancer set; DeLong; no leakage of held-out folds."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from pdacrad.radiomics_stats.discrimination import auroc
from pdacrad.radiomics_stats.models import ComparisonConfig, ModelSpec, compare_models, tuned_pipeline

SMALL = ComparisonConfig(outer_folds=3, inner_folds=2, n_bootstrap=200, n_estimators=30)


@pytest.fixture(scope="module")
def comparison(wisconsin):  # type: ignore[no-untyped-def]
    x, y = wisconsin
    return compare_models(x, y.to_numpy(), SMALL)


def test_all_five_models_reach_published_wisconsin_auroc(comparison, wisconsin) -> None:  # type: ignore[no-untyped-def]
    _, y = wisconsin
    table = comparison.table().set_index("model")
    assert list(table.index) == ["lasso", "svm", "random_forest", "xgboost", "mlp"]
    assert table.loc[comparison.best, "auroc"] >= 0.98
    assert (table["auroc"] >= 0.95).all()
    assert (table["auroc_ci_low"] < table["auroc"]).all() and (table["auroc"] < table["auroc_ci_high"]).all()
    for r in comparison.results:
        assert not np.isnan(r.probability).any()  # every case predicted exactly once, out of fold
        assert r.auroc.estimate == pytest.approx(roc_auc_score(y, r.probability), abs=1e-12)
    assert table.loc[comparison.best, "delong_p_vs_best"] == 1.0


def test_out_of_fold_probabilities_equal_sklearns_direct_nested_cv(comparison, wisconsin) -> None:  # type: ignore[no-untyped-def]
    x, y = wisconsin
    spec = ModelSpec(
        LogisticRegression(l1_ratio=1.0, solver="liblinear", max_iter=5000, random_state=0),
        {"C": [0.01, 0.1, 1.0, 10.0]},
    )
    outer = StratifiedKFold(SMALL.outer_folds, shuffle=True, random_state=SMALL.seed)
    direct = cross_val_predict(
        tuned_pipeline(spec, SMALL.inner_folds, SMALL.seed), x, y, cv=outer, method="predict_proba"
    )[:, 1]
    lasso = next(r for r in comparison.results if r.name == "lasso")
    np.testing.assert_allclose(lasso.probability, direct, rtol=1e-10)


class _RecordingClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression that records the case ids (column 0) of every fit, in a class-level log."""

    fits: ClassVar[list[set[int]]] = []

    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    def fit(self, x, y):  # type: ignore[no-untyped-def]
        # The case ids travel in the last column (the test replaces the scaler by the identity).
        _RecordingClassifier.fits.append({round(float(v)) for v in x[:, -1]})
        self.model_ = LogisticRegression(C=self.C, max_iter=2000).fit(x[:, :-1], y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, x):  # type: ignore[no-untyped-def]
        return self.model_.predict_proba(x[:, :-1])


def test_held_out_fold_is_never_seen_by_any_fit(wisconsin, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sklearn.preprocessing import FunctionTransformer

    import pdacrad.radiomics_stats.models as models

    x, y = wisconsin
    ids = np.arange(len(y))
    # Keep the ids unscaled: replace the pipeline's scaler by the identity for this instrumented run.
    monkeypatch.setattr("sklearn.preprocessing.StandardScaler", lambda: FunctionTransformer())
    table = x.iloc[:, :5].assign(case_id=ids)
    _RecordingClassifier.fits.clear()
    result = models.compare_models(
        table, y.to_numpy(), SMALL, {"recorder": ModelSpec(_RecordingClassifier(), {"C": [0.1, 1.0]})}
    )
    held_out = [set(ids[result.outer_fold == k]) for k in range(SMALL.outer_folds)]
    # inner fits (2 folds × 2 C) + 1 refit per outer fold
    assert len(_RecordingClassifier.fits) == SMALL.outer_folds * (SMALL.inner_folds * 2 + 1)
    for seen in _RecordingClassifier.fits:
        assert any(not (seen & fold) for fold in held_out), "a fit saw cases of every outer test fold"
    # and each outer fold's refit saw exactly its training cases
    everyone = set(ids)
    assert (
        sum(seen in [everyone - fold for fold in held_out] for seen in _RecordingClassifier.fits)
        == SMALL.outer_folds
    )


def test_auroc_has_a_bootstrap_ci(wisconsin) -> None:  # type: ignore[no-untyped-def]
    """(DeLong's test and covariance are pdacrad.stats', tested in tests/test_stats.py.)"""
    x, y = wisconsin
    y = y.to_numpy()
    a = x["mean radius"].to_numpy()
    assert str(auroc(y, a, n_bootstrap=50)).count("[") == 1


def test_non_binary_labels_are_invalid(wisconsin) -> None:  # type: ignore[no-untyped-def]
    from pdacrad.errors import InvalidInputError

    x, _ = wisconsin
    with pytest.raises(InvalidInputError, match="binary"):
        compare_models(x, pd.Series(np.arange(len(x)) % 3).to_numpy(), SMALL)
