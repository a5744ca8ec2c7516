"""Figures of the cost basis refitted from a finished run's measured unit costs (the rehearsal's).

Since issue #20's rehearsal, the run ledger writes what each unit cost to ``<work_dir>/experiment/costs/<unit>.json``
(fields ``unit``, ``ok``, ``wall_s``, ``cpu_s``, ``peak_rss_bytes``, ``disk_written_bytes``: CPU seconds of the process
tree, peak resident memory of it, bytes it wrote). :func:`fit_from_run` turns the CPU-only units among them into
rates per case or per CT voxel of that run's cohort, and :func:`with_run_figures` puts them in place of the basis's
figures of the same key (kind ``measured-cpu``, the source naming the run's cost file, its case count and mean CT
size), so ``experiment --plan --measured-run CONFIG`` prices PANORAMA with what the rehearsal measured where it
measured it. Training units are not refitted: a CPU's seconds per iteration are no GPU figure; their CPU-s per
iteration is reported beside the plan (``cpu_reference``) instead.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdacrad.errors import InvalidInputError
from pdacrad_train.config import TrainConfig
from pdacrad_train.cost_basis import CostBasis, Figure
from pdacrad_train.workspace import Workspace

#: Unit → (basis key, what its CPU seconds are divided by: ``ct_voxels`` = cases × mean CT voxels, ``cases``).
_REFITS = {
    "prepare:convert": ("cpu.convert_s_per_ct_voxel", "ct_voxels"),
    "stage1:oof": ("cpu.oof_s_per_ct_voxel", "ct_voxels"),
    "radiomics:global-features": ("cpu.global_features_s_per_ct_voxel", "ct_voxels"),
    "radiomics:select": ("cpu.select_s_per_case", "cases"),
}


@dataclass(frozen=True)
class RunFigures:
    """What a finished run measured: refitted basis ``figures`` (by key), and ``cpu_reference``: CPU seconds per
    training iteration of each trained unit on that CPU (for comparison only, never priced as GPU time)."""

    figures: dict[str, Figure]
    cpu_reference: dict[str, float]
    cases: int
    mean_ct_voxels: float


def read_unit_costs(folder: Path) -> dict[str, dict[str, Any]]:
    """Every finished (``ok``) unit record in ``folder``, by unit name."""
    records = (json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json")))
    return {r["unit"]: r for r in records if r.get("ok", True)}


def fit_from_run(config: TrainConfig, ws: Workspace, iterations: dict[str, int] | None = None) -> RunFigures:
    """Refit the CPU figures from ``ws``'s unit costs; ``iterations``: training iterations per trained unit (for
    ``cpu_reference``; units not named are left out).

    Raises:
        InvalidInputError: the run has no cost records or no cohort images to size them by.
    """
    folder = ws.root / "experiment" / "costs"
    costs = read_unit_costs(folder)
    if not costs:
        raise InvalidInputError(f"{folder}: no unit cost records; run the experiment there first.")
    sizes = _ct_voxels(ws.cohort / "imagesTr")
    cases, mean = len(sizes), sum(sizes) / len(sizes)
    figures: dict[str, Figure] = {}
    for unit, (key, per) in _REFITS.items():
        if unit not in costs:
            continue
        divisor = cases * mean if per == "ct_voxels" else cases
        record = costs[unit]
        figures[key] = Figure(
            key, record["cpu_s"] / divisor, f"CPU-s per {'CT voxel' if per == 'ct_voxels' else 'case'}",
            "measured-cpu", f"per {'CT voxel' if per == 'ct_voxels' else 'case'}",
            f"{folder}/{unit.replace(':', '_')}.json (run {config.name!r}: {cases} cases, mean CT {mean:,.0f} "
            "voxels)",
            f"{record['cpu_s']:.1f} CPU-s, {record['wall_s']:.1f} s wall, peak RSS "
            f"{record['peak_rss_bytes'] / 2**30:.2f} GiB",
        )  # fmt: skip
    reference = {
        unit: costs[unit]["cpu_s"] / n for unit, n in (iterations or {}).items() if unit in costs and n > 0
    }
    return RunFigures(figures, reference, cases, mean)


def with_run_figures(basis: CostBasis, run: RunFigures) -> CostBasis:
    """``basis`` with the run's refitted figures in place of those of the same key."""
    return dataclasses.replace(basis, figures={**basis.figures, **run.figures})


def _ct_voxels(images: Path) -> list[int]:
    """Voxels of every ``<case>_0000`` image in ``images`` (from the headers only)."""
    import SimpleITK as sitk

    sizes = []
    for path in sorted(images.glob("*_0000.*")):
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        size = 1
        for n in reader.GetSize():
            size *= n
        sizes.append(size)
    if not sizes:
        raise InvalidInputError(f"{images}: no <case>_0000 images to size the run's costs by.")
    return sizes
