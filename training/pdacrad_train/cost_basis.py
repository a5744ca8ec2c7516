"""The cost basis of the experiment's cost plan: every figure the plan multiplies, with its unit and its source.

The committed basis is ``training/configs/costs/basis.json``: ``{"format_version": 1, "description", "machine",
"figures": {<key>: {"value", "unit", "kind", "scales_with", "source", "note"}}}``. ``kind`` says what a figure is:

``measured-cpu``   measured on this project's 2-core CPU box (the source names the RESULTS.md section or file and
                   the command that measured it)
``published-gpu``  a GPU throughput someone published (the source is the URL; the note names the GPU)
``published``      another published number (PANORAMA's baseline plans, nnU-Net's defaults)
``reported``       a number stated in an issue or log, not re-measured
``derived``        computed from others or counted (the note says how)
``assumption``     no measurement: a stated guess, to be replaced when the rehearsal measures it

``scales_with`` says what the plan multiplies it by (per case, per CT voxel, per iteration, constant, ...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdacrad.errors import InvalidInputError

#: The committed basis (``training/configs/costs/basis.json``).
DEFAULT_BASIS = Path(__file__).resolve().parents[1] / "configs" / "costs" / "basis.json"
#: The kinds a figure may be (module docstring).
KINDS = ("measured-cpu", "published-gpu", "published", "reported", "derived", "assumption")
_FIELDS = ("value", "unit", "kind", "scales_with", "source")


@dataclass(frozen=True)
class Figure:
    """One figure of the basis: ``value`` in ``unit`` (a number, or a list such as a shape (z, y, x))."""

    key: str
    value: float | list[float]
    unit: str
    kind: str
    scales_with: str
    source: str
    note: str = ""


@dataclass(frozen=True)
class CostBasis:
    """The figures of one basis file, by key; ``machine``: where the ``measured-cpu`` ones were measured."""

    figures: Mapping[str, Figure]
    machine: str
    path: Path

    def number(self, key: str) -> float:
        """The value of ``key`` as a number.

        Raises:
            InvalidInputError: ``key`` is missing or not a number.
        """
        value = self.figure(key).value
        if isinstance(value, list):
            raise InvalidInputError(f"{self.path}: figure {key!r} must be a number, got {value!r}.")
        return float(value)

    def shape(self, key: str) -> tuple[int, ...]:
        """The value of ``key`` as a shape (a list of voxel counts)."""
        value = self.figure(key).value
        if not isinstance(value, list):
            raise InvalidInputError(f"{self.path}: figure {key!r} must be a list, got {value!r}.")
        return tuple(int(v) for v in value)

    def figure(self, key: str) -> Figure:
        """The figure ``key``.

        Raises:
            InvalidInputError: the basis has no such figure.
        """
        if key not in self.figures:
            raise InvalidInputError(
                f"{self.path}: no figure {key!r}; add it (value, unit, kind, scales_with, source)."
            )
        return self.figures[key]

    def gpus(self) -> list[str]:
        """The GPUs with a published epoch time (``gpu.<name>.epoch_s``)."""
        return [k.split(".")[1] for k in self.figures if k.startswith("gpu.") and k.endswith(".epoch_s")]


def load_basis(path: str | Path | None = None) -> CostBasis:
    """Read and check a basis file (default :data:`DEFAULT_BASIS`): every figure has a value, unit, known kind,
    what it scales with, and a non-empty source.

    Raises:
        InvalidInputError: the file is missing, not JSON, or a figure lacks a field or has an unknown kind.
    """
    path = Path(path) if path is not None else DEFAULT_BASIS
    if not path.is_file():
        raise InvalidInputError(f"cost basis not found: {path}.")
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"{path}: not JSON ({error}).") from None
    figures: dict[str, Figure] = {}
    for key, entry in (data.get("figures") or {}).items():
        missing = [f for f in _FIELDS if entry.get(f) in (None, "")]
        if missing or entry["kind"] not in KINDS:
            raise InvalidInputError(
                f"{path}: figure {key!r} lacks {', '.join(missing)}" if missing
                else f"{path}: figure {key!r} has kind {entry['kind']!r}; one of {', '.join(KINDS)}."
            )  # fmt: skip
        figures[key] = Figure(key, **{f: entry[f] for f in (*_FIELDS, "note") if f in entry})
    return CostBasis(figures, str(data.get("machine", "")), path)
