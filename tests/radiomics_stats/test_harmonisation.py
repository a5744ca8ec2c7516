"""ComBat: a simulated site shift is removed, the biological effect kept; fitted on training cases only."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pytest
from neuroCombat import neuroCombat

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics_stats.harmonisation import apply_combat, fit_combat

# Empirical Bayes pools batch effects across features; 20 features is still far fewer than a radiomics table.
FEATURES = [f"f{i}" for i in range(20)]
BIO_EFFECT = 1.5


def _cohort(n_per_site: int, seed: int) -> pd.DataFrame:
    """3 sites with additive (+3, −2) and multiplicative (×2) batch effects; a disease effect of +1.5."""
    rng = np.random.default_rng(seed)
    site = np.repeat(["A", "B", "C"], n_per_site)
    disease = rng.integers(0, 2, len(site))
    shift = np.select([site == "B", site == "C"], [3.0, -2.0], 0.0)
    scale = np.where(site == "C", 2.0, 1.0)
    values = (
        10
        + BIO_EFFECT * disease[:, None]
        + shift[:, None]
        + scale[:, None] * rng.normal(0, 1, (len(site), len(FEATURES)))
    )
    table = pd.DataFrame(values, columns=FEATURES)
    table["site"], table["disease"] = site, disease
    return table


def _site_means_adjusted(table: pd.DataFrame) -> pd.DataFrame:
    """Per-site feature means after removing the disease effect (sites differ in disease mix by chance)."""
    adjusted = table[FEATURES].sub(BIO_EFFECT * table["disease"], axis=0)
    return adjusted.groupby(table["site"]).mean()


@pytest.mark.parametrize("parametric", [True, False])
def test_combat_removes_site_shift_and_keeps_disease_effect(parametric: bool) -> None:
    cohort = _cohort(150, seed=0)
    before = _site_means_adjusted(cohort)
    assert (before.max() - before.min()).min() > 4.0
    _, harmonised = fit_combat(cohort, FEATURES, "site", categorical=["disease"], parametric=parametric)
    means = _site_means_adjusted(harmonised)
    assert (means.max() - means.min()).max() < 0.3  # was > 4
    disease_effect = (
        harmonised[FEATURES][harmonised["disease"] == 1].mean()
        - harmonised[FEATURES][harmonised["disease"] == 0].mean()
    )
    assert disease_effect.to_numpy() == pytest.approx(np.full(len(FEATURES), BIO_EFFECT), abs=0.3)
    spread = harmonised.groupby("site")[FEATURES].std()
    assert (spread.max() / spread.min()).max() < 1.3  # the ×2 scale of site C is removed too


def test_fit_on_training_only_then_apply_to_new_cases() -> None:
    # New cases carry no outcome, so the model is fitted without the disease covariate here (see apply_combat:
    # a new case's covariate effect is taken as the training mean).
    train, new = _cohort(300, seed=1), _cohort(300, seed=2)
    model, _ = fit_combat(train, FEATURES, "site")
    harmonised_new = apply_combat(model, new, "site")
    means = harmonised_new.groupby("site")[FEATURES].mean()
    assert (means.max() - means.min()).max() < 0.6  # was > 4; sampling error of a difference ~0.12
    assert harmonised_new[["site", "disease"]].equals(new[["site", "disease"]])
    with pytest.raises(InvalidInputError, match="not in the training data"):
        apply_combat(model, new.assign(site="Z"), "site")


def test_apply_equals_neurocombat_on_its_training_data_without_covariates() -> None:
    cohort = _cohort(50, seed=3)
    model, harmonised = fit_combat(cohort, FEATURES, "site", parametric=False)
    with contextlib.redirect_stdout(io.StringIO()):
        direct = neuroCombat(cohort[FEATURES].to_numpy().T, cohort[["site"]], "site", parametric=False)[
            "data"
        ].T
    np.testing.assert_allclose(harmonised[FEATURES].to_numpy(), direct, rtol=1e-12)
    np.testing.assert_allclose(apply_combat(model, cohort, "site")[FEATURES].to_numpy(), direct, rtol=1e-10)
