"""The training cases and their labels, as ``convert`` lists them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pdacrad.errors import InvalidInputError
from pdacrad_train.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd


def training_cases(ws: Workspace) -> pd.DataFrame:
    """``case`` and ``label`` (0/1 PDAC) of every training case: ``convert``'s cases.csv, else the cohort's.

    Raises:
        InvalidInputError: neither table exists (run ``convert``).
    """
    import pandas as pd

    for table in (ws.cases_table, ws.cohort / "cases.csv"):
        if table.is_file():
            frame = pd.read_csv(table, dtype={"case": str})
            return frame[["case", "label"]]
    raise InvalidInputError(f"{ws.cases_table} not found: run `pdacrad-train convert` first.")
