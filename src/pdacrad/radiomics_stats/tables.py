"""Tables in, artefacts out: read a features table and a clinical/labels table, join them on the case id, and
write the CSV / PNG / markdown artefacts of an analysis step.

Tables are CSV or parquet with one row per case (or per case × perturbation for robustness) and an id column
(default ``case``). Feature columns are PyRadiomics names; the analysis never reads images.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pdacrad.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)


def read_table(path: Path) -> pd.DataFrame:
    """Read a ``.csv`` or ``.parquet`` table; a missing or unreadable file is an :class:`InvalidInputError`."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"table not found: {path} (give a .csv or .parquet file)")
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (ValueError, OSError, ImportError) as error:
        raise InvalidInputError(f"cannot read table {path}: {error}") from error


def require_columns(table: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    """Raise :class:`InvalidInputError` naming the columns of ``columns`` that ``table`` lacks."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InvalidInputError(f"{where}: missing column(s) {missing}; present: {list(table.columns)[:10]}…")


def numeric_feature_columns(table: pd.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """Numeric columns of ``table`` that are not in ``exclude`` and not PyRadiomics ``diagnostics_*``."""
    import pandas as pd

    return [
        c
        for c in table.columns
        if c not in exclude
        and not str(c).startswith("diagnostics_")
        and pd.api.types.is_numeric_dtype(table[c])
        and not pd.api.types.is_bool_dtype(table[c])
    ]


def join_cases(features: pd.DataFrame, clinical: pd.DataFrame, id_column: str = "case") -> pd.DataFrame:
    """Inner join of the features and clinical tables on ``id_column``; cases present in only one are logged
    and dropped. Raises :class:`InvalidInputError` when no case is shared or an id repeats."""
    require_columns(features, [id_column], "features table")
    require_columns(clinical, [id_column], "clinical table")
    for name, table in (("features", features), ("clinical", clinical)):
        duplicated = table[id_column][table[id_column].duplicated()].tolist()
        if duplicated:
            raise InvalidInputError(f"{name} table: repeated {id_column} ids {duplicated[:5]}")
    overlap = set(clinical.columns) & set(features.columns) - {id_column}
    if overlap:
        raise InvalidInputError(f"features and clinical tables share column(s) {sorted(overlap)}; rename one")
    joined = features.merge(clinical, on=id_column, how="inner", validate="one_to_one")
    dropped = len(features) + len(clinical) - 2 * len(joined)
    if joined.empty:
        raise InvalidInputError(f"features and clinical tables share no {id_column} id")
    if dropped:
        logger.warning("%d case(s) are in only one of the two tables and are left out", dropped)
    return joined.sort_values(id_column).reset_index(drop=True)


def write_report(path: Path, title: str, lines: Sequence[str]) -> Path:
    """Write a short markdown report: ``# title`` then ``lines`` (already markdown). Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([f"# {title}", "", *lines, ""]), encoding="utf-8")
    return path


def markdown_table(table: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """``table`` as a GitHub markdown table (via tabulate, which pandas uses for ``to_markdown``)."""
    return table.to_markdown(index=False, floatfmt=floatfmt)
