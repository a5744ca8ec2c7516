"""ICC robustness: known variance components are recovered; injected instability is filtered out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin
import pytest

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics_stats.robustness import RobustnessConfig, feature_icc, robust_features


def _long_table(n_cases: int, seed: int) -> tuple[pd.DataFrame, dict[str, tuple[float, float]]]:
    """3 perturbations per case; per feature (σ_case, σ_perturbation, σ_error) → expected (ICC(3,1), ICC(2,1))."""
    rng = np.random.default_rng(seed)
    components = {"stable": (1.0, 0.0, 0.2), "offset": (1.0, 0.6, 0.2), "unstable": (1.0, 0.0, 1.2)}
    case = np.repeat(np.arange(n_cases), 3)
    perturbation = np.tile(["original", "eroded", "dilated"], n_cases)
    table = pd.DataFrame({"case": case, "perturbation": perturbation})
    expected = {}
    for name, (s_case, s_pert, s_err) in components.items():
        subject = rng.normal(0, s_case, n_cases)[case]
        # A fixed systematic offset per perturbation whose variance across the 3 raters (n − 1 denominator, as
        # in the two-way ANOVA estimator) is s_pert².
        offsets = np.array([-1.0, 0.0, 1.0]) * s_pert
        rater = offsets[np.tile([0, 1, 2], n_cases)]
        table[name] = 5.0 + subject + rater + rng.normal(0, s_err, len(case))
        expected[name] = (s_case**2 / (s_case**2 + s_err**2), s_case**2 / (s_case**2 + s_pert**2 + s_err**2))
    return table, expected


def test_icc_recovers_known_variance_components_and_drops_unstable_features() -> None:
    table, expected = _long_table(n_cases=3000, seed=1)
    result = feature_icc(table, config=RobustnessConfig(threshold=0.8))
    icc = result.table.set_index("feature")
    for name, (icc3, icc2) in expected.items():
        assert icc.loc[name, "ICC(3,1)"] == pytest.approx(icc3, abs=0.02), name
        assert icc.loc[name, "ICC(2,1)"] == pytest.approx(icc2, abs=0.02), name
    # ICC(3,1) ignores the systematic offset, ICC(2,1) penalises it.
    assert result.robust == ("stable", "offset")
    assert robust_features(table, threshold=0.8, icc="ICC(2,1)") == ("stable",)


def test_icc_matches_pingouin_and_constant_feature_is_not_robust() -> None:
    table, _ = _long_table(n_cases=40, seed=2)
    table["constant"] = 1.0
    result = feature_icc(table).table.set_index("feature")
    direct = pingouin.intraclass_corr(table, targets="case", raters="perturbation", ratings="offset")
    direct = direct.set_index("Type")["ICC"]
    assert result.loc["offset", "ICC(3,1)"] == pytest.approx(direct["ICC(C,1)"], rel=1e-12)
    assert result.loc["offset", "ICC(2,1)"] == pytest.approx(direct["ICC(A,1)"], rel=1e-12)
    assert np.isnan(result.loc["constant", "ICC(3,1)"])
    assert not result.loc["constant", "robust"]


def test_unbalanced_design_is_invalid_input() -> None:
    table, _ = _long_table(n_cases=10, seed=3)
    with pytest.raises(InvalidInputError, match="one row per perturbation"):
        feature_icc(table.iloc[1:])
