"""A small synthetic cohort shared by the synth tests (generated once per session, ~96×96×32 voxels)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pdacrad.synth import generate_cohort

SMALL_SIZE = (96, 96, 32)
COHORT_SEED = 7
COHORT_N = 6


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("synth_cohort")
    table = generate_cohort(out, COHORT_N, seed=COHORT_SEED, size_xyz=SMALL_SIZE, progress=False)
    return out, table


MIX = {"texture": 0.4, "hypo": 0.3, "both": 0.3}
RATES = {"dilated_duct": 0.3, "dilated_cbd": 0.3, "high_noise": 0.25, "thick_slices": 0.25}
MIXED_N, MIXED_SEED, MIXED_SIZE = 40, 11, (64, 64, 32)


@pytest.fixture(scope="session")
def mixed_cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """40 tiny cases (64 × 64 × 32) with the study's lesion mix and every confounder (~4 s)."""
    out = tmp_path_factory.mktemp("synth_mixed")
    table = generate_cohort(
        out, MIXED_N, seed=MIXED_SEED, lesion_mix=MIX, confounders=RATES, size_xyz=MIXED_SIZE, progress=False
    )
    return out, table
