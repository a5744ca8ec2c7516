"""Print a cost plan (:mod:`pdacrad_train.cost_plan`): a text table with the figures' sources, JSON, or CSV; and
the cohort size a config implies when ``--cases`` is not given."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from pdacrad.errors import InvalidInputError, ResourceError
from pdacrad_train.config import TrainConfig, load_config
from pdacrad_train.cost_basis import CostBasis, load_basis
from pdacrad_train.cost_fit import fit_from_run, with_run_figures
from pdacrad_train.cost_plan import CostPlan, plan_experiment, trainer_schedule
from pdacrad_train.radiomics_config import load_radiomics_config
from pdacrad_train.units import STEPS, experiment_units
from pdacrad_train.workspace import workspace

_COLUMNS = ("gpu_h", "cpu_h", "wall_h", "disk_gb", "peak_ram_gb")
#: One letter per figure kind for the table's ``basis`` column.
_KIND_LETTERS = {
    "measured-cpu": "M", "published-gpu": "G", "published": "P", "reported": "R", "derived": "D", "assumption": "A",
}  # fmt: skip
_KIND_TITLES = {
    "measured-cpu": "measured on this project's CPU box (CPU seconds, never used as GPU time)",
    "published-gpu": "published GPU throughput",
    "published": "published (baseline plans, nnU-Net defaults)",
    "reported": "reported, not re-measured",
    "derived": "derived (computed or counted; see the note)",
    "assumption": "ASSUMPTIONS (no measurement: replace them with the rehearsal's)",
}


@dataclass(frozen=True)
class PlanRequest:
    """What ``experiment --plan`` was asked: the radiomics side file, cohort size, GPU, basis file, output format
    (text, json, csv), the run's variants / folds / steps (None: the config's), and a finished run's config whose
    measured unit costs refit the basis (``measured_run``)."""

    radiomics_config: Path | None = None
    cases: int | None = None
    gpu: str | None = None
    basis: Path | None = None
    output_format: str = "text"
    variants: list[str] | None = None
    folds: list[int] | None = None
    steps: list[str] | None = None
    measured_run: Path | None = None


def render_plan(config: TrainConfig, request: PlanRequest) -> str:
    """``experiment --plan``: price ``config``'s run as ``request`` says and render it.

    Raises:
        InvalidInputError: an unknown format, step or GPU, a missing basis, or a measured run without records.
    """
    if request.output_format not in ("text", "json", "csv"):
        raise InvalidInputError(f"--format: text, json or csv, got {request.output_format!r}.")
    unknown = [s for s in request.steps or () if s not in STEPS]
    if unknown:
        raise InvalidInputError(f"--steps: unknown {', '.join(unknown)}; steps {', '.join(STEPS)}.")
    basis, notes = load_basis(request.basis), list[str]()
    if request.measured_run is not None:
        basis, notes = _refit(basis, request.measured_run)
    plan = plan_experiment(
        config,
        load_radiomics_config(config, request.radiomics_config),
        basis,
        default_cases(config) if request.cases is None else request.cases,
        request.gpu,
        request.variants,
        request.folds,
        request.steps or STEPS,
    )
    plan = replace(plan, notes=(*plan.notes, *notes))
    if request.output_format == "json":
        return json.dumps(plan_json(plan), indent=1, ensure_ascii=False)
    return plan_csv(plan) if request.output_format == "csv" else format_table(plan)


def _refit(basis: CostBasis, run_config: Path) -> tuple[CostBasis, list[str]]:
    """The basis with a finished run's measured CPU rates, and notes saying what was refitted and what that CPU
    took per training iteration."""
    config = load_config(run_config)
    rcfg = load_radiomics_config(config)
    trains = [u for u in experiment_units(config, rcfg.selection.mode, config.experiment.variants, config.folds)
              if u.kind == "train" and u.stage is not None]  # fmt: skip
    iterations, unknown = {}, set()
    for unit in trains:
        assert unit.stage is not None
        try:
            epochs, per_epoch, _, _ = trainer_schedule(unit.stage.trainer)
        except ResourceError:  # a trainer of another branch (the rehearsal's cut schedule): no reference
            unknown.add(unit.stage.trainer)
            continue
        iterations[unit.name] = epochs * per_epoch
    run = fit_from_run(config, workspace(config), iterations)
    notes = [
        f"Refitted from the measured run {config.name!r} ({run.cases} cases, mean CT {run.mean_ct_voxels:,.0f} "
        f"voxels): {', '.join(run.figures) or 'nothing (none of its units was a refittable CPU step)'}."
    ]
    if unknown:
        notes.append(f"No CPU-s per iteration for trainings of {', '.join(sorted(unknown))}: not found here.")
    if run.cpu_reference:
        per_unit = ", ".join(f"{u} {s:.2f}" for u, s in run.cpu_reference.items())
        notes.append(
            "On that CPU, CPU-s per training iteration (incl. the unit's validation; for comparison only, "
            f"GPU time stays the published figure): {per_unit}."
        )
    return with_run_figures(basis, run), notes


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
        f"(basis {_shown(plan.basis.path)}).",
        f"{'unit':<52} {'GPU-h':>9} {'CPU-h':>9} {'wall-h':>9} {'disk GB':>9} {'RAM GB':>7}  basis",
    ]
    for r in plan.rows:
        name = r.unit if r.ledger else f"({r.unit})"
        kinds = {plan.basis.figures[f].kind for f in r.figures}
        letters = "".join(v for k, v in _KIND_LETTERS.items() if k in kinds) or "-"
        lines.append(
            f"{name:<52} {r.gpu_h:>9.1f} {r.cpu_h:>9.1f} {r.wall_h:>9.1f} {r.disk_gb:>9.1f} {r.peak_ram_gb:>7.1f}  "
            f"{letters}"
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
        "unit's peak; the total is the largest; 0.0 where nothing priced it (not measured). (Parenthesised units are "
        "the guarded dataset preparations, not ledger units.) basis: the kinds of figure a row used — M measured on "
        "our CPU, G published GPU throughput, P published, R reported, D derived, A assumption.",
        f"Trainings also hold run.augmentation_workers = {plan.augmentation_workers} CPU cores each for nnU-Net's "
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


def _shown(path: Path) -> str:
    """``path`` relative to the working folder where it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _value(value: float | list[float]) -> str:
    if isinstance(value, list):
        return "×".join(str(v) for v in value)
    return f"{value:.4g}"
