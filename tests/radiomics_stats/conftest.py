"""Shared real data of the analysis tests: scikit-learn's breast-cancer Wisconsin set (569 cases, 30 features
of digitised fine-needle-aspirate images; malignant coded 1 here)."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def wisconsin() -> tuple[pd.DataFrame, pd.Series]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    # sklearn codes benign as 1; the analysis treats the disease (malignant) as the positive class.
    return data.data, (1 - data.target).rename("label")
