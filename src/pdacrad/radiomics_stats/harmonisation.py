"""ComBat harmonisation of radiomics features across centres / scanners, fitted on training cases only.

Fitting is neuroCombat's (Fortin et al. 2017/2018; Johnson et al. 2007): per feature, a location/scale model with
the batch (centre) and the biological covariates to preserve, empirical-Bayes shrinkage of the batch effects —
parametric priors or the non-parametric (Monte-Carlo integration) variant.

Applying a fitted model to *new* cases uses neuroCombat's stored estimates and the ComBat transform of
``neuroCombatFromTraining``: ``z = (x − m − ḿ) / √v``, ``x' = (z − γ*_b) / √δ*_b · √v + m + ḿ`` with ``m`` the
grand mean, ``v`` the pooled variance, ``ḿ`` the mean covariate effect of the training cases, and ``γ*_b``,
``δ*_b`` the shrunk additive / multiplicative effects of the case's batch. We do not call
``neuroCombatFromTraining`` itself: in neuroCombat 0.2.12 it converts a 1-element array with ``int()``, which
numpy ≥ 2.4 rejects (TypeError); the five lines below are that same transform.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics_stats.tables import require_columns

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ComBatModel:
    """Fitted ComBat estimates (per feature, in ``features`` order; per batch, in ``batches`` order).

    ``grand_mean`` (F,) and ``pooled_variance`` (F,) in feature units / units²; ``covariate_mean`` (F,) the
    training cases' mean covariate effect; ``gamma`` (B, F) additive and ``delta`` (B, F) multiplicative batch
    effects after empirical-Bayes shrinkage, on the standardised scale.
    """

    features: tuple[str, ...]
    batches: tuple[str, ...]
    grand_mean: np.ndarray
    pooled_variance: np.ndarray
    covariate_mean: np.ndarray
    gamma: np.ndarray
    delta: np.ndarray
    parametric: bool


def fit_combat(
    table: pd.DataFrame,
    features: Sequence[str],
    batch_column: str,
    categorical: Sequence[str] = (),
    continuous: Sequence[str] = (),
    parametric: bool = True,
) -> tuple[ComBatModel, pd.DataFrame]:
    """Fit ComBat on the (training) cases of ``table``; return the model and the harmonised copy of ``table``.

    ``categorical`` / ``continuous`` name the biological covariates whose effect is preserved (e.g. diagnosis,
    age). Every batch needs ≥ 2 cases; features must be finite.
    """
    import numpy as np
    from neuroCombat import neuroCombat

    features = list(features)
    require_columns(table, [*features, batch_column, *categorical, *continuous], "harmonisation table")
    values = table[features].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise InvalidInputError("harmonisation table: features contain NaN/inf; impute or drop them first")
    batch = table[batch_column].astype(str)
    small = batch.value_counts()[lambda c: c < 2]
    if len(small):
        raise InvalidInputError(f"harmonisation: batch(es) {list(small.index)} have fewer than 2 cases")
    covariates = table[[*categorical, *continuous]].copy()
    covariates.insert(0, batch_column, batch.to_numpy())
    # neuroCombat reports progress with print(); keep stdout clean and log instead.
    with contextlib.redirect_stdout(io.StringIO()):
        result = neuroCombat(
            dat=values.T,
            covars=covariates.reset_index(drop=True),
            batch_col=batch_column,
            categorical_cols=list(categorical),
            continuous_cols=list(continuous),
            parametric=parametric,
        )
    estimates = result["estimates"]
    mod_mean = np.asarray(estimates["mod.mean"], dtype=np.float64)
    model = ComBatModel(
        features=tuple(features),
        batches=tuple(str(b) for b in estimates["batches"]),
        grand_mean=np.asarray(estimates["stand.mean"], dtype=np.float64)[:, 0],
        pooled_variance=np.asarray(estimates["var.pooled"], dtype=np.float64).ravel(),
        covariate_mean=mod_mean.mean(axis=1) if mod_mean.ndim == 2 else np.zeros(len(features)),
        gamma=np.asarray(estimates["gamma.star"], dtype=np.float64),
        delta=np.asarray(estimates["delta.star"], dtype=np.float64),
        parametric=parametric,
    )
    harmonised = table.copy()
    harmonised[features] = np.asarray(result["data"]).T
    logger.info(
        "ComBat (%s) fitted on %d cases, %d batches",
        "parametric" if parametric else "non-parametric",
        len(table),
        len(model.batches),
    )
    return model, harmonised


def apply_combat(model: ComBatModel, table: pd.DataFrame, batch_column: str) -> pd.DataFrame:
    """Harmonise new cases with a fitted :class:`ComBatModel` (their batches must be among the training ones).

    The covariate effect of a new case is taken as the training mean (``neuroCombatFromTraining``'s choice), so
    no outcome is needed at application time. Consequence: in a batch with multiplicative effect δ* ≠ 1 a new
    case's own covariate effect is scaled by 1/√δ* along with the batch effect; when the preserved covariates
    shift features strongly, check the before/after plots. Returns a copy of ``table`` with features replaced.
    """
    import numpy as np

    features = list(model.features)
    require_columns(table, [*features, batch_column], "harmonisation table")
    batch = table[batch_column].astype(str).to_numpy()
    unknown = sorted(set(batch) - set(model.batches))
    if unknown:
        raise InvalidInputError(
            f"harmonisation: batch(es) {unknown} were not in the training data {model.batches}"
        )
    index = np.array([model.batches.index(b) for b in batch])
    x = table[features].to_numpy(dtype=np.float64)
    centre = model.grand_mean + model.covariate_mean
    scale = np.sqrt(model.pooled_variance)
    z = (x - centre) / scale
    adjusted = (z - model.gamma[index]) / np.sqrt(model.delta[index])
    out = table.copy()
    out[features] = adjusted * scale + centre
    return out
