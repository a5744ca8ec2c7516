"""Subgroup analyses of an evaluation from a case table: the AUROC of each kind of positive case against all
negatives, of each lesion-size band against all negatives, and of all positives against the negatives that carry
each confounder; per variant, with stratified-bootstrap CIs and DeLong's test against the reference variant.

The case table is a CSV with one row per case and a ``case`` column (the ids of the predictions), for example the
``cases.csv`` that ``pdacrad synth`` writes beside a synthetic cohort, or a clinical table of a real one. Columns
used when present:

- ``lesion_kind`` (text): one subgroup per value among the positive cases (``none`` and empty ignored);
- ``lesion_diameter_mm`` (number): positives binned by :data:`SIZE_EDGES_MM`;
- any column whose values are all 0/1 (other than ``label``): a confounder flag; its subgroup is every positive
  against the negatives with the flag, so a low AUROC there means those negatives look like lesions to the model.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pdacrad.errors import InvalidInputError
from pdacrad.evaluation.metrics import case_scores, case_targets
from pdacrad.evaluation.study import EvaluationResult
from pdacrad.stats import (
    ConfidenceInterval,
    PairedTest,
    auroc_replicates,
    bootstrap_indices,
    delong_test,
    percentile_interval,
)

CASE_COLUMN = "case"
KIND_COLUMN = "lesion_kind"
SIZE_COLUMN = "lesion_diameter_mm"
SIZE_EDGES_MM: tuple[float, ...] = (10.0, 20.0)
"""Lesion-diameter band edges in mm: < 10, 10–20, ≥ 20 (PANORAMA reports small lesions below 2 cm)."""
_NOT_A_FLAG = {CASE_COLUMN, "label", KIND_COLUMN, SIZE_COLUMN}
_NO_KIND = {"", "none", "nan"}


@dataclass(frozen=True)
class Subgroup:
    """A set of cases to compute an AUROC on: ``name`` (``column=value``), what it compares, and its case ids."""

    name: str
    description: str
    cases: tuple[str, ...]


@dataclass(frozen=True)
class SubgroupResult:
    """One variant on one subgroup: case counts, AUROC with its CI, the median likelihood of the subgroup's
    negatives, and DeLong's test against the reference variant (``None`` for the reference itself)."""

    subgroup: Subgroup
    variant: str
    n_positive: int
    n_negative: int
    auroc: ConfidenceInterval
    median_negative_likelihood: float
    test: PairedTest | None


def read_case_table(path: Path) -> pd.DataFrame:
    """The case table at ``path``, indexed by case id (text).

    Raises:
        InvalidInputError: unreadable, no ``case`` column, or a case listed twice.
    """
    try:
        table = pd.read_csv(path, dtype={CASE_COLUMN: str})
    except (OSError, ValueError) as error:
        raise InvalidInputError(f"{path}: cannot read the case table ({error}).") from None
    if CASE_COLUMN not in table.columns:
        raise InvalidInputError(
            f"{path}: the case table needs a {CASE_COLUMN!r} column; it has {list(table)}."
        )
    duplicated = table[CASE_COLUMN][table[CASE_COLUMN].duplicated()].tolist()
    if duplicated:
        raise InvalidInputError(f"{path}: cases listed more than once: {duplicated[:5]}.")
    return table.set_index(CASE_COLUMN)


def _is_flag(values: pd.Series) -> bool:
    present = values.dropna()
    return bool(len(present)) and set(present.unique()) <= {0, 1} and present.nunique() == 2


def _size_band(diameter: float, edges: Sequence[float]) -> str:
    bounds = [0.0, *edges, math.inf]
    for low, high in itertools.pairwise(bounds):
        if low <= diameter < high:
            return (
                f"< {high:g} mm"
                if low == 0
                else f"≥ {low:g} mm"
                if high == math.inf
                else f"{low:g}–{high:g} mm"
            )
    raise ValueError(f"diameter {diameter} outside every band")


def _rows(table: pd.DataFrame, labels: Mapping[str, int]) -> pd.DataFrame:
    """The rows of ``table`` of the evaluated cases (``labels``' keys), sorted by case id.

    Raises:
        InvalidInputError: an evaluated case is missing from the table.
    """
    cases = sorted(labels)
    missing = [c for c in cases if c not in table.index]
    if missing:
        raise InvalidInputError(
            f"the case table has no row for {len(missing)} evaluated case(s): {missing[:5]}."
        )
    return table.loc[cases]


def _flags(rows: pd.DataFrame) -> list[str]:
    """The confounder-flag columns of ``rows``: 0/1 columns with both values, other than case, label, kind, size."""
    return [column for column in rows.columns if column not in _NOT_A_FLAG and _is_flag(rows[column])]


def _kinds(rows: pd.DataFrame, positives: Sequence[str]) -> dict[str, list[str]]:
    """Lesion kind → positive cases of that kind (sorted kinds; ``none``/empty and a missing column: none)."""
    if KIND_COLUMN not in rows.columns:
        return {}
    kinds = rows.loc[list(positives), KIND_COLUMN].astype(str)
    return {kind: [c for c in positives if kinds[c] == kind] for kind in sorted(set(kinds) - _NO_KIND)}


def define_subgroups(
    table: pd.DataFrame, labels: Mapping[str, int], size_edges: Sequence[float] = SIZE_EDGES_MM
) -> list[Subgroup]:
    """The subgroups the columns of ``table`` define (module docstring) over the cases of ``labels`` (case id →
    0/1), in column order; subgroups without both a positive and a negative case are left out.

    Raises:
        InvalidInputError: an evaluated case is missing from the table.
    """
    rows = _rows(table, labels)
    positives = [c for c in rows.index if labels[c]]
    negatives = [c for c in rows.index if not labels[c]]
    groups = [
        Subgroup(f"{KIND_COLUMN}={kind}", f"{kind} lesions vs all negatives", (*members, *negatives))
        for kind, members in _kinds(rows, positives).items()
    ]
    if SIZE_COLUMN in rows.columns:
        sizes = pd.to_numeric(rows.loc[positives, SIZE_COLUMN], errors="coerce")
        bands: dict[str, list[str]] = {}
        for c in positives:
            if math.isfinite(sizes[c]):
                bands.setdefault(_size_band(float(sizes[c]), size_edges), []).append(c)
        for low_first in sorted(bands, key=lambda b: min(sizes[c] for c in bands[b])):
            groups.append(
                Subgroup(
                    f"{SIZE_COLUMN} {low_first}",
                    f"lesions {low_first} vs all negatives",
                    (*bands[low_first], *negatives),
                )
            )
    for column in _flags(rows):
        flagged = [c for c in negatives if rows.at[c, column] == 1]
        groups.append(
            Subgroup(f"{column}=1", f"all lesions vs negatives with {column}", (*positives, *flagged))
        )
    return [g for g in groups if 0 < sum(labels[c] for c in g.cases) < len(g.cases)]


def case_groups(labels: Mapping[str, int], table: pd.DataFrame | None = None) -> dict[str, list[str]]:
    """Case groups for the likelihood distributions: negatives without any confounder flag, negatives with each
    flag, and positives by ``lesion_kind`` (with no table, or no kind column: all positives).

    Raises:
        InvalidInputError: an evaluated case is missing from the table.
    """
    cases = sorted(labels)
    negatives = [c for c in cases if not labels[c]]
    positives = [c for c in cases if labels[c]]
    if table is None:
        return {"negatives": negatives, "positives": positives}
    rows = _rows(table, labels)
    flags = _flags(rows)
    groups = {"negatives": [c for c in negatives if not any(rows.at[c, f] == 1 for f in flags)]}
    for flag in flags:
        groups[f"negatives: {flag}"] = [c for c in negatives if rows.at[c, flag] == 1]
    kinds = _kinds(rows, positives)
    groups.update(
        {f"PDAC: {kind}": members for kind, members in kinds.items()} if kinds else {"positives": positives}
    )
    return {name: members for name, members in groups.items() if members}


def evaluate_subgroups(
    result: EvaluationResult, table: pd.DataFrame, size_edges: Sequence[float] = SIZE_EDGES_MM
) -> tuple[SubgroupResult, ...]:
    """Every variant of ``result`` on every subgroup of ``table`` (:func:`define_subgroups`): the AUROC of the
    likelihood with a percentile CI from a bootstrap stratified by label within the subgroup (the evaluation's
    replicates, level and seed), and DeLong's test against ``result.config.reference`` on the same cases."""
    if not result.variants:
        return ()
    cfg = result.config
    labels = {str(k): int(v) for k, v in case_targets(result.variants[0].metrics).items()}
    scores = {
        v.variant: {str(k): float(p) for k, p in case_scores(v.metrics).items()} for v in result.variants
    }
    reference = scores.get(cfg.reference)
    out = []
    for group in define_subgroups(table, labels, size_edges):
        y = np.array([labels[c] for c in group.cases])
        indices = bootstrap_indices(y, cfg.n_bootstrap, cfg.seed)
        for v in result.variants:
            s = np.array([scores[v.variant][c] for c in group.cases])
            point = float(auroc_replicates(y, s, np.arange(y.size)[None])[0])
            ci = percentile_interval(point, auroc_replicates(y, s, indices), cfg.level)
            test = None
            if reference is not None and v.variant != cfg.reference:
                test = delong_test(y, np.array([reference[c] for c in group.cases]), s)
            out.append(
                SubgroupResult(
                    group,
                    v.variant,
                    int(y.sum()),
                    int(y.size - y.sum()),
                    ci,
                    float(np.median(s[y == 0])),
                    test,
                )
            )
    return tuple(out)


def subgroups_table(results: Sequence[SubgroupResult]) -> pd.DataFrame:
    """One row per (subgroup, variant): counts, AUROC and CI, median negative likelihood, DeLong vs reference."""
    columns = [
        "subgroup", "description", "variant", "n_positive", "n_negative", "AUROC", "AUROC_low", "AUROC_high",
        "median_negative_likelihood", "delta_AUROC_vs_reference", "p_DeLong",
    ]  # fmt: skip
    return pd.DataFrame(
        [
            {
                "subgroup": r.subgroup.name,
                "description": r.subgroup.description,
                "variant": r.variant,
                "n_positive": r.n_positive,
                "n_negative": r.n_negative,
                "AUROC": r.auroc.estimate,
                "AUROC_low": r.auroc.low,
                "AUROC_high": r.auroc.high,
                "median_negative_likelihood": r.median_negative_likelihood,
                "delta_AUROC_vs_reference": r.test.difference if r.test else float("nan"),
                "p_DeLong": r.test.p_value if r.test else float("nan"),
            }
            for r in results
        ],
        columns=columns,
    )
