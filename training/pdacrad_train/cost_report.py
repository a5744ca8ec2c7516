"""Print a cost plan (:mod:`pdacrad_train.cost_plan`): a text table with the figures' sources, JSON, or CSV; and
the cohort size a config implies when ``--cases`` is not given."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pdacrad.errors import InvalidInputError
from pdacrad_train.config import TrainConfig
from pdacrad_train.cost_plan import CostPlan

_COLUMNS = ("gpu_h", "cpu_h", "wall_h", "disk_gb", "peak_ram_gb")
_KIND_TITLES = {
    "measured-cpu": "measured on this project's CPU box (CPU seconds, never used as GPU time)",
    "published-gpu": "published GPU throughput",
    "published": "published (baseline plans, nnU-Net defaults)",
    "reported": "reported, not re-measured",
    "derived": "derived (computed or counted; see the note)",
    "assumption": "ASSUMPTIONS (no measurement: replace them with the rehearsal's)",
}


def default_cases(config: TrainConfig) -> int:
    """The cohort size of ``config`` without ``--cases``: the synthetic cohort's ``n``; else the cases in the
    cohort folder's ``imagesTr``; else the cases of the baseline fold files the config names (PANORAMA: 2,238).

    Raises:
        InvalidInputError: none of those is there (then ``--cases`` is needed).
    """
    cohort = config.cohort
    if cohort.source == "synth" and cohort.n:
        return int(cohort.n)
    images = Path(cohort.path or "") / "imagesTr"
    if cohort.path and images.is_dir():
        return len({p.name.split("_0000")[0] for p in images.glob("*_0000.*")})
    for folds_file in (config.splits.baseline_stage2, config.splits.baseline_stage1):
        if folds_file and Path(folds_file).is_file():
            folds = json.loads(Path(folds_file).read_text())
            return len({case for cases in folds.values() for case in cases})
    raise InvalidInputError(
        f"cohort size unknown: {images} does not exist and the config names no baseline fold file; "
        "give --cases N (PANORAMA: 2238)."
    )


def format_table(plan: CostPlan) -> str:
    """The plan as text: one row per unit, the totals, what was assumed, and every figure used with its source."""
    total = plan.totals()
    lines = [
        f"Cost plan of {plan.config!r} for {plan.cases:,} cases; GPU time as on one {plan.gpu} "
        f"(basis {plan.basis.path}).",
        f"{'unit':<52} {'GPU-h':>9} {'CPU-h':>9} {'wall-h':>9} {'disk GB':>9} {'RAM GB':>7}",
    ]
    for r in plan.rows:
        name = r.unit if r.ledger else f"({r.unit})"
        lines.append(
            f"{name:<52} {r.gpu_h:>9.1f} {r.cpu_h:>9.1f} {r.wall_h:>9.1f} {r.disk_gb:>9.1f} {r.peak_ram_gb:>7.1f}"
        )
    lines.append("by step:")
    for step, s in plan.by_step().items():
        lines.append(
            f"  {step:<50} {s['gpu_h']:>9.1f} {s['cpu_h']:>9.1f} {s['wall_h']:>9.1f} {s['disk_gb']:>9.1f} "
            f"{s['peak_ram_gb']:>7.1f}"
        )
    lines += [
        f"{'TOTAL':<52} {total['gpu_h']:>9.1f} {total['cpu_h']:>9.1f} {total['wall_h']:>9.1f} "
        f"{total['disk_gb']:>9.1f} {total['peak_ram_gb']:>7.1f}",
        "",
        "GPU-h: on the named GPU; CPU-h: CPU work only (CPU-s measured on this project's 2-core box / 3600). "
        "wall-h: one unit after another on one machine with run.num_gpus GPUs and run.num_processes / the Dask "
        "workers for CPU steps (folds on separate GPUs divide the GPU part). disk: GB (10^9 B) written. RAM: the "
        "unit's peak; the total is the largest. (Parenthesised units are the guarded dataset preparations, not "
        "ledger units.)",
        f"GPU units also hold run.augmentation_workers = {plan.augmentation_workers} CPU cores each for nnU-Net's "
        f"data augmentation: {total['held_core_h']:,.0f} core-hours held, not in CPU-h.",
        "Training time does not grow with the cohort (fixed epochs × iterations); validation, selection, "
        "prediction and every CPU step grow linearly with it.",
        *plan.notes,
        "",
        "Figures used (value, unit — source):",
    ]
    used = plan.used_figures()
    for kind, title in _KIND_TITLES.items():
        keys = [k for k in used if plan.basis.figures[k].kind == kind]
        if not keys:
            continue
        lines.append(f"  {title}:")
        for key in keys:
            f = plan.basis.figures[key]
            lines.append(f"    {key} = {_value(f.value)} {f.unit} [{f.scales_with}] — {f.source}")
            if f.note:
                lines.append(f"        {f.note}")
    return "\n".join(lines)


def plan_json(plan: CostPlan) -> dict[str, Any]:
    """The plan as JSON-ready data: config, cases, gpu, rows, totals, notes and the figures used."""
    return {
        "config": plan.config,
        "cases": plan.cases,
        "gpu": plan.gpu,
        "basis": str(plan.basis.path),
        "rows": [asdict(r) for r in plan.rows],
        "by_step": plan.by_step(),
        "totals": plan.totals(),
        "notes": list(plan.notes),
        "figures": {k: asdict(plan.basis.figures[k]) for k in plan.used_figures()},
    }


def plan_csv(plan: CostPlan) -> str:
    """The plan's rows as CSV (``unit, step, device, ledger, gpu_h, cpu_h, wall_h, disk_gb, peak_ram_gb``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("unit", "step", "device", "ledger", *_COLUMNS))
    for r in plan.rows:
        writer.writerow((r.unit, r.step, r.device, r.ledger, *(f"{getattr(r, c):.4f}" for c in _COLUMNS)))
    return out.getvalue()


def _value(value: float | list[float]) -> str:
    if isinstance(value, list):
        return "×".join(str(v) for v in value)
    return f"{value:.4g}"
