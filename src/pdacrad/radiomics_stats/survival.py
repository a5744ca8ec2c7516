"""Survival analysis of radiomics + clinical variables, built on scikit-survival (lifelines 0.30 requires
pandas < 3 and cannot be installed beside our pinned pandas 3.1).

One cohort is split into training and test cases (stratified by event). On the training cases: a penalised Cox
model (``CoxnetSurvivalAnalysis``, elastic net, penalty chosen by inner CV on Harrell's C) and a random survival
forest (``RandomSurvivalForest``), each after z-scoring. On the test cases: Harrell's C-index
(``concordance_index_censored``) with a bootstrap 95% CI, cumulative/dynamic time-dependent AUC
(``cumulative_dynamic_auc``, IPCW-weighted) at 1, 2 and 3 years, and risk groups split at the *training* median
risk score, compared with Kaplan–Meier curves (``kaplan_meier_estimator``) and the log-rank test
(``compare_survival``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pdacrad.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from pdacrad.stats import ConfidenceInterval

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SurvivalConfig:
    """``times``: horizons of the time-dependent AUC in the table's time unit (default days: 1/2/3 years);
    ``test_fraction`` of cases held out; forest size and leaf size; bootstrap resamples for the C-index CI."""

    times: tuple[float, ...] = (365.25, 730.5, 1095.75)
    test_fraction: float = 0.3
    n_estimators: int = 200
    min_samples_leaf: int = 15
    cox_l1_ratio: float = 0.5
    n_bootstrap: int = 500
    seed: int = 0


@dataclass(frozen=True)
class SurvivalModelResult:
    """Test-set results of one model: C-index with 95% CI, time-dependent AUC per horizon (NaN where the horizon
    lies outside the test follow-up), training-median risk cut-off, log-rank χ² and p between the groups, and
    the test risk scores (higher = worse)."""

    name: str
    c_index: ConfidenceInterval
    time_auc: dict[float, float]
    cutoff: float
    logrank_chi2: float
    logrank_p: float
    test_risk: np.ndarray


@dataclass(frozen=True)
class SurvivalResult:
    """Both models' results and the test cases' survival array (sksurv structured: event, time)."""

    results: tuple[SurvivalModelResult, ...]
    test_index: np.ndarray
    y_test: np.ndarray

    def table(self) -> pd.DataFrame:
        """One row per model: C-index with CI, AUC at each horizon, log-rank χ² and p."""
        import pandas as pd

        rows = []
        for r in self.results:
            row: dict[str, Any] = {
                "model": r.name,
                "c_index": r.c_index.estimate,
                "c_index_ci_low": r.c_index.low,
                "c_index_ci_high": r.c_index.high,
            }
            row.update({f"auc_{t:g}": v for t, v in r.time_auc.items()})
            row.update({"risk_cutoff": r.cutoff, "logrank_chi2": r.logrank_chi2, "logrank_p": r.logrank_p})
            rows.append(row)
        return pd.DataFrame(rows)


def event_time(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(event indicators, times) of a scikit-survival structured array, whatever its field names (sksurv's own
    data sets use e.g. ``cens``/``time`` or ``Status``/``Survival_in_days``: event field first, time second)."""
    names = y.dtype.names
    if names is None or len(names) != 2:
        raise InvalidInputError("survival: expected a structured (event, time) array")
    event_field, time_field = names
    return y[event_field].astype(bool), y[time_field].astype(float)


def survival_array(event: Sequence[Any], time: Sequence[float]) -> np.ndarray:
    """scikit-survival's structured outcome array from event indicators (truthy = event) and times."""
    import numpy as np
    from sksurv.util import Surv

    time_arr = np.asarray(time, dtype=np.float64)
    if (time_arr <= 0).any() or not np.isfinite(time_arr).all():
        raise InvalidInputError("survival: follow-up times must be finite and > 0")
    return Surv.from_arrays(event=np.asarray(event).astype(bool), time=time_arr)


def survival_models(config: SurvivalConfig) -> dict[str, Any]:
    """The penalised Cox model (tuned over a penalty path by 3-fold CV on the C-index) and the random survival
    forest, each behind a ``StandardScaler``."""
    import numpy as np
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sksurv.ensemble import RandomSurvivalForest
    from sksurv.linear_model import CoxnetSurvivalAnalysis

    cox = GridSearchCV(
        make_pipeline(
            StandardScaler(), CoxnetSurvivalAnalysis(l1_ratio=config.cox_l1_ratio, max_iter=100000)
        ),
        {"coxnetsurvivalanalysis__alphas": [[a] for a in np.logspace(-3, -0.5, 6)]},
        cv=KFold(3, shuffle=True, random_state=config.seed),
        n_jobs=1,
    )
    forest = make_pipeline(
        StandardScaler(),
        RandomSurvivalForest(
            n_estimators=config.n_estimators,
            min_samples_leaf=config.min_samples_leaf,
            random_state=config.seed,
            n_jobs=1,
        ),
    )
    return {"cox_penalised": cox, "random_survival_forest": forest}


def bootstrap_c_index(y: np.ndarray, risk: np.ndarray, n_bootstrap: int, seed: int) -> ConfidenceInterval:
    """Harrell's C (scikit-survival) with a percentile bootstrap 95% CI over cases (whole cases resampled,
    :func:`pdacrad.stats.case_indices`)."""
    from sksurv.metrics import concordance_index_censored

    from pdacrad.stats import bootstrap_ci, case_indices

    event, time = event_time(y)

    def c(idx: np.ndarray) -> float:
        return float(concordance_index_censored(event[idx], time[idx], risk[idx])[0])

    return bootstrap_ci(c, case_indices(len(y), n_bootstrap, seed))


def _evaluate(
    name: str,
    model: Any,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    config: SurvivalConfig,
) -> SurvivalModelResult:
    import numpy as np
    from sksurv.compare import compare_survival
    from sksurv.metrics import cumulative_dynamic_auc

    model.fit(x_train, y_train)
    risk, train_risk = model.predict(x_test), model.predict(x_train)
    # cumulative_dynamic_auc needs horizons strictly inside the test follow-up.
    test_time = event_time(y_test)[1]
    usable = [t for t in config.times if test_time.min() <= t < test_time.max()]
    time_auc = dict.fromkeys(config.times, float("nan"))
    if usable:
        aucs, _ = cumulative_dynamic_auc(y_train, y_test, risk, np.asarray(usable))
        time_auc.update({t: float(a) for t, a in zip(usable, aucs, strict=True)})
    cutoff = float(np.median(train_risk))
    high = risk > cutoff
    chi2, p = (float("nan"), float("nan"))
    if 0 < high.sum() < len(high):
        chi2, p = (float(v) for v in compare_survival(y_test, high.astype(int)))
    return SurvivalModelResult(
        name,
        bootstrap_c_index(y_test, risk, config.n_bootstrap, config.seed),
        time_auc,
        cutoff,
        chi2,
        p,
        risk,
    )


def survival_analysis(x: pd.DataFrame, y: np.ndarray, config: SurvivalConfig | None = None) -> SurvivalResult:
    """Fit both models on a stratified training split of (``x``: cases × numeric features, ``y``: structured
    survival array) and evaluate them on the held-out cases."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    config = config or SurvivalConfig()
    x_arr = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x_arr).all():
        raise InvalidInputError("survival: features contain NaN/inf; impute or drop them first")
    index = np.arange(len(y))
    train, test = train_test_split(
        index, test_size=config.test_fraction, stratify=event_time(y)[0], random_state=config.seed
    )
    results = tuple(
        _evaluate(name, model, x_arr[train], y[train], x_arr[test], y[test], config)
        for name, model in survival_models(config).items()
    )
    for r in results:
        logger.info("%s: test C-index %s", r.name, r.c_index)
    return SurvivalResult(results, test, y[test])
