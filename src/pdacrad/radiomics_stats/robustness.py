"""Feature robustness: intraclass correlation of each radiomics feature across perturbations of the segmentation.

Input is a long table: one row per (case, perturbation), e.g. the features of the original mask and of the mask
eroded / dilated by 1 voxel, or of repeated Stage-1 masks. For each feature, pingouin's ``intraclass_corr``
(Shrout & Fleiss 1979 / McGraw & Wong 1996) gives:

- ICC(3,1) — two-way mixed, consistency, single measurement (pingouin's ``ICC3`` = ``ICC(C,1)``):
  σ²_case / (σ²_case + σ²_error). A systematic offset between perturbations does not lower it.
- ICC(2,1) — two-way random, absolute agreement, single measurement (``ICC2`` = ``ICC(A,1)``):
  σ²_case / (σ²_case + σ²_perturbation + σ²_error).

A feature is robust when the chosen ICC is ≥ the threshold (0.8 by default, Koo & Li 2016 "good"). Features
with undefined ICC (constant, or missing for some perturbation) are not robust.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics_stats.tables import numeric_feature_columns, require_columns

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

IccKind = Literal["ICC(3,1)", "ICC(2,1)"]
# pingouin's row labels for the two ICCs we report.
_PINGOUIN_TYPE = {"ICC(3,1)": "ICC3", "ICC(2,1)": "ICC2"}


@dataclass(frozen=True)
class RobustnessConfig:
    """Settings of the robustness step: ``threshold`` on the ICC named by ``icc``; id columns of the table."""

    threshold: float = 0.8
    icc: IccKind = "ICC(3,1)"
    case_column: str = "case"
    perturbation_column: str = "perturbation"


@dataclass(frozen=True)
class RobustnessResult:
    """Per-feature ICC table (columns: feature, ICC(3,1), ICC(3,1)_ci_low/high, ICC(2,1), …, robust) and the
    names of the robust features in input order."""

    table: pd.DataFrame
    robust: tuple[str, ...]
    config: RobustnessConfig


def _icc_row(long: pd.DataFrame, feature: str, config: RobustnessConfig) -> dict[str, float | str]:
    import numpy as np
    import pingouin

    row: dict[str, float | str] = {"feature": feature}
    data = long[[config.case_column, config.perturbation_column, feature]]
    if data[feature].nunique(dropna=True) <= 1 or data[feature].isna().any():
        for kind in _PINGOUIN_TYPE:
            row[kind] = row[f"{kind}_ci_low"] = row[f"{kind}_ci_high"] = np.nan
        return row
    icc = pingouin.intraclass_corr(
        data=data, targets=config.case_column, raters=config.perturbation_column, ratings=feature
    ).set_index("Type")
    for kind, label in _PINGOUIN_TYPE.items():
        # pingouin 0.7 labels rows ICC(C,1)/ICC(A,1); older releases ICC3/ICC2. Accept both.
        alias = {"ICC3": "ICC(C,1)", "ICC2": "ICC(A,1)"}[label]
        found = icc.loc[label] if label in icc.index else icc.loc[alias]
        row[kind] = float(found["ICC"])
        row[f"{kind}_ci_low"], row[f"{kind}_ci_high"] = (float(v) for v in found["CI95"])
    return row


def feature_icc(
    long: pd.DataFrame, features: Sequence[str] | None = None, config: RobustnessConfig | None = None
) -> RobustnessResult:
    """ICC(3,1) and ICC(2,1) with 95% CIs for each feature of a long (case × perturbation) table.

    ``features`` defaults to every numeric column other than the id columns. Every case must appear under every
    perturbation exactly once (a balanced design, as the ICC formulas require).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    config = config or RobustnessConfig()
    require_columns(long, [config.case_column, config.perturbation_column], "robustness table")
    id_columns = (config.case_column, config.perturbation_column)
    features = list(features) if features is not None else numeric_feature_columns(long, exclude=id_columns)
    if not features:
        raise InvalidInputError("robustness table: no numeric feature columns")
    counts = long.groupby([config.case_column, config.perturbation_column]).size()
    n_perturbations = long[config.perturbation_column].nunique()
    per_case = long.groupby(config.case_column)[config.perturbation_column].nunique()
    if (counts != 1).any() or (per_case != n_perturbations).any() or n_perturbations < 2:
        raise InvalidInputError(
            "robustness table: every case needs exactly one row per perturbation, and ≥ 2 perturbations "
            f"(found {n_perturbations} perturbations, {int((per_case != n_perturbations).sum())} incomplete cases)"
        )
    rows = [_icc_row(long, f, config) for f in tqdm(features, desc="ICC", unit="feature", leave=False)]
    table = pd.DataFrame(rows)
    table["robust"] = table[config.icc].fillna(-1.0) >= config.threshold
    robust = tuple(table.loc[table["robust"], "feature"])
    logger.info("%d of %d features have %s ≥ %.2f", len(robust), len(features), config.icc, config.threshold)
    return RobustnessResult(table=table, robust=robust, config=config)


def robust_features(
    long: pd.DataFrame,
    threshold: float = 0.8,
    icc: IccKind = "ICC(3,1)",
    case_column: str = "case",
    perturbation_column: str = "perturbation",
) -> tuple[str, ...]:
    """Names of the features whose ICC across perturbations is ≥ ``threshold`` — the optional first filter of
    feature selection (``pdacrad-train select``): keep only these columns of the features table."""
    config = RobustnessConfig(threshold, icc, case_column, perturbation_column)
    return feature_icc(long, config=config).robust
