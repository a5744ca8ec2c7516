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
