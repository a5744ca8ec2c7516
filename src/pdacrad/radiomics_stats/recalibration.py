"""Calibration and clinical utility of a case likelihood (e.g. the detector's PDAC likelihood, or a model's
out-of-fold probability).

- Reliability curve: scikit-learn's ``calibration_curve`` (quantile bins). Brier score: ``brier_score_loss``.
- Calibration slope and intercept (Cox 1958; Van Calster et al. 2019): logistic regression of the outcome on
  logit(p) by statsmodels — the slope is the coefficient of logit(p) (1 = ideal, < 1 = overfitted), the
  intercept "in the large" is the constant of a binomial GLM with logit(p) as offset (0 = ideal).
- Hosmer–Lemeshow test over groups of predicted risk (deciles): Σ_g (O_g − E_g)² / (E_g (1 − E_g / n_g)),
  χ² with G − 2 degrees of freedom. Neither scikit-learn nor statsmodels ships it; the sum is written out here.
- Recalibration fitted on cross-validated predictions: Platt (logistic on logit p) or isotonic (scikit-learn).
- Decision-curve analysis (Vickers & Elkin 2006): net benefit = TP/n − FP/n · pt / (1 − pt) of "treat if
  p ≥ pt", against treat-all (prevalence − (1 − prevalence) · pt / (1 − pt)) and treat-none (0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pdacrad.errors import InvalidInputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

_EPS = 1e-12  # keeps logit(p) finite for p = 0 or 1 exactly


@dataclass(frozen=True)
class CalibrationResult:
    """Brier score, calibration slope / intercept-in-the-large, Hosmer–Lemeshow χ² and p (``hl_groups``
    groups), and the reliability curve (columns: mean_predicted, observed_fraction)."""

    brier: float
    slope: float
    intercept: float
    hl_statistic: float
    hl_p: float
    hl_groups: int
    curve: pd.DataFrame


def _check(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    y, p = np.asarray(y).astype(int), np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or not np.isin(y, (0, 1)).all():
        raise InvalidInputError("calibration: need one 0/1 label per probability")
    if not ((p >= 0) & (p <= 1)).all():
        raise InvalidInputError("calibration: probabilities must lie in [0, 1]")
    return y, p


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 − p)) with p clipped to [1e-12, 1 − 1e-12]."""
    import numpy as np

    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def hosmer_lemeshow(y: np.ndarray, p: np.ndarray, groups: int = 10) -> tuple[float, float, int]:
    """Hosmer–Lemeshow χ², its p-value (df = G − 2) and the number of groups G actually formed (quantile groups
    of p; tied quantiles merge)."""
    import pandas as pd
    from scipy.stats import chi2

    y, p = _check(y, p)
    bins = pd.qcut(p, groups, labels=False, duplicates="drop")
    frame = pd.DataFrame({"y": y, "p": p, "g": bins}).groupby("g")
    observed, expected, n = frame["y"].sum(), frame["p"].sum(), frame.size()
    statistic = float((((observed - expected) ** 2) / (expected * (1 - expected / n))).sum())
    n_groups = len(n)
    return statistic, float(chi2.sf(statistic, n_groups - 2)), n_groups


def calibration_metrics(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> CalibrationResult:
    """All calibration measures of probabilities ``p`` for binary outcomes ``y``."""
    import numpy as np
    import pandas as pd
    import statsmodels.api as sm
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss

    y, p = _check(y, p)
    lp = logit(p)
    slope_fit = sm.Logit(y, sm.add_constant(lp)).fit(disp=0)
    citl_fit = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=lp).fit()
    observed, predicted = calibration_curve(y, p, n_bins=n_bins, strategy="quantile")
    statistic, p_value, groups = hosmer_lemeshow(y, p, n_bins)
    return CalibrationResult(
        brier=float(brier_score_loss(y, p)),
        slope=float(slope_fit.params[1]),
        intercept=float(citl_fit.params[0]),
        hl_statistic=statistic,
        hl_p=p_value,
        hl_groups=groups,
        curve=pd.DataFrame({"mean_predicted": predicted, "observed_fraction": observed}),
    )


Recalibration = Literal["platt", "isotonic"]


@dataclass(frozen=True)
class Recalibrator:
    """A recalibration map fitted on cross-validated probabilities; :meth:`__call__` applies it to new ones."""

    method: Recalibration
    model: Any

    def __call__(self, p: np.ndarray) -> np.ndarray:
        import numpy as np

        if self.method == "platt":
            return self.model.predict_proba(logit(p)[:, None])[:, 1]
        return np.asarray(self.model.predict(np.asarray(p, dtype=np.float64)))


def fit_recalibration(y: np.ndarray, p: np.ndarray, method: Recalibration = "platt") -> Recalibrator:
    """Fit Platt scaling (unpenalised logistic regression on logit p) or isotonic regression (clipped to [0, 1])
    on out-of-fold probabilities ``p`` — never on the training predictions of the model itself."""
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    y, p = _check(y, p)
    if method == "platt":
        return Recalibrator(method, LogisticRegression(C=1e6, max_iter=1000).fit(logit(p)[:, None], y))
    if method == "isotonic":
        return Recalibrator(method, IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(p, y))
    raise InvalidInputError(f"recalibration method {method!r}: choose platt or isotonic")


def cross_fitted_recalibration(
    y: np.ndarray, p: np.ndarray, method: Recalibration = "platt", folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Recalibrated probabilities where each case's map was fitted on the other folds' cases — an honest
    estimate of how well recalibration will work on new cases."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    y, p = _check(y, p)
    out = np.empty_like(p)
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(p, y):
        out[test] = fit_recalibration(y[train], p[train], method)(p[test])
    return out


def decision_curve(y: np.ndarray, p: np.ndarray, thresholds: np.ndarray | None = None) -> pd.DataFrame:
    """Net benefit of the model, treat-all and treat-none at each threshold probability pt (default 0.01–0.99
    in steps of 0.01). Columns: threshold, net_benefit_model, net_benefit_all, net_benefit_none."""
    import numpy as np
    import pandas as pd

    y, p = _check(y, p)
    pt = np.arange(0.01, 1.0, 0.01) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    if ((pt <= 0) | (pt >= 1)).any():
        raise InvalidInputError("decision curve: thresholds must lie strictly between 0 and 1")
    n, prevalence = len(y), y.mean()
    treat = p[None, :] >= pt[:, None]  # (thresholds, cases)
    true_pos = (treat & (y[None, :] == 1)).sum(axis=1) / n
    false_pos = (treat & (y[None, :] == 0)).sum(axis=1) / n
    odds = pt / (1 - pt)
    return pd.DataFrame(
        {
            "threshold": pt,
            "net_benefit_model": true_pos - false_pos * odds,
            "net_benefit_all": prevalence - (1 - prevalence) * odds,
            "net_benefit_none": np.zeros_like(pt),
        }
    )
