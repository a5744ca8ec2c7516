"""The full-size rehearsal: ``training/configs/panorama.yaml`` — unchanged but for its schedule — on a real-size
PANORAMA-layout cohort, every step measured.

    PYTHONPATH=src:training .venv/bin/python benchmarks/rehearsal.py [--work work_dirs/rehearsal] [--n 10]
        [--steps cohort,prepare,stage1,oof,radiomics,stage2,select-checkpoint,predict,evaluate,export,process]
        [--table-only]
    ... --steps probe-maps,probe-global,probe-stage1,probe-stage2  # per-case / per-iteration probes (benchmarks/rehearsal_probes.py)

1. ``cohort``: ``pdacrad synth`` at 512×512×(80–200) voxels (x, y, z), in-plane 0.6–0.9 mm, slices 1.0–3.0 mm,
   ids ``<patient>_<study>`` with 30% of patients holding a second study, into ``<work>/cohort``.
2. The config: ``panorama.yaml`` and ``panorama.radiomics.yaml`` merged key by key with the overlays in
   ``benchmarks/rehearsal/`` (schedule keys and this machine's run settings only: anything else is refused), written
   to ``<work>/rehearsal.yaml`` and ``<work>/rehearsal.radiomics.yaml``.
3. Each step of ``pdacrad-train experiment`` in order, each its own process; then ``export`` (into
   ``<work>/resources``) and ``process.py`` on the cohort's first case (as ``.mha``, like the container's input).
   The first step that fails stops the run (later steps need its outputs); its log is ``<work>/logs/<step>.log``.
4. The table: every step's costs (:class:`pdacrad_train.unit_costs.UnitMeter` around its process: wall, CPU-s
   incl. children, peak RSS of the process tree, disk bytes written) and every ledger unit's inside it
   (``<work>/rehearsal/experiment/costs``), to ``benchmarks/results/rehearsal/costs.csv`` and ``costs.json``.

Resumable: the cohort is kept when its ``cases.csv`` is complete, finished ledger units are skipped (and keep their
first costs), a step's costs are replaced by its last run's. ``--table-only`` only rewrites the table.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import SimpleITK as sitk
import yaml
from pdacrad_train.config import load_config
from pdacrad_train.experiment import STEPS
from pdacrad_train.radiomics_config import load_radiomics_config
from pdacrad_train.unit_costs import UnitMeter, read_costs

logger = logging.getLogger("rehearsal")
ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "training" / "configs"
OVERLAYS = ROOT / "benchmarks" / "rehearsal"
RESULTS = ROOT / "benchmarks" / "results" / "rehearsal"
ALL_STEPS = ("cohort", *STEPS, "export", "process")
#: Steps run only when named: per-case probes of units too costly for the whole cohort here
#: (``benchmarks/rehearsal_probes.py``).
PROBES = ("probe-maps", "probe-global", "probe-stage1", "probe-stage2")
#: Keys the overlay may set: the schedule (trainers with a cut schedule, bootstrap replicates) and where / how to
#: run here. Anything else in an overlay is an error: the rehearsal must run the recipe's plans and methods.
SCHEDULE_KEYS = {
    "stage1.trainer", "stage2.trainer", "experiment.plain_trainer", "experiment.radiomics_trainer",
    "experiment.n_bootstrap",
}  # fmt: skip
SITE_KEYS = {"work_dir", "cohort.path", "export.dir", "export.demo", "export.trained_on", "n_workers"}
SITE_PREFIXES = ("run.",)
#: ``pdacrad synth`` options of the cohort: 512×512 in-plane, 80–200 slices, PANORAMA-like spacing (the public
#: baseline's median is 0.75 × 0.75 × 1.5 mm) and patients with two studies.
COHORT_OPTIONS = (
    "--size", "512,512,120", "--slices", "80,200", "--inplane-spacing", "0.6,0.9", "--slice-spacing", "1.0,3.0",
    "--second-study-fraction", "0.3",
)  # fmt: skip


def flat_keys(data: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted paths of the leaves of a nested mapping."""
    keys: list[str] = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        keys += flat_keys(value, f"{path}.") if isinstance(value, dict) else [path]
    return keys


def merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overlay``'s leaves replacing its own (nested mappings merged key by key).

    Raises:
        ValueError: the overlay sets a key that is neither schedule nor site (see :data:`SCHEDULE_KEYS`).
    """
    bad = [
        k for k in flat_keys(overlay)
        if k not in SCHEDULE_KEYS | SITE_KEYS and not k.startswith(SITE_PREFIXES)
    ]  # fmt: skip
    if bad:
        raise ValueError(f"the rehearsal overlay may change only the schedule and run settings, not {bad}")
    return _merge(base, overlay)


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overlay.items():
        out[key] = _merge(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


def write_configs(work: Path) -> Path:
    """``<work>/rehearsal.yaml`` (+ ``.radiomics.yaml``): the recipe merged with the overlays; returns the first."""
    site = {
        "work_dir": str(work / "rehearsal"),
        "cohort": {"path": str(work / "cohort")},
        "export": {"dir": str(work / "resources")},
    }
    overlay = yaml.safe_load((OVERLAYS / "panorama-schedule.overlay.yaml").read_text())
    config = merge(merge(yaml.safe_load((CONFIGS / "panorama.yaml").read_text()), overlay), site)
    config["name"] = "panorama-rehearsal"  # the report's title; not a setting of any step
    radiomics = merge(
        yaml.safe_load((CONFIGS / "panorama.radiomics.yaml").read_text()),
        yaml.safe_load((OVERLAYS / "panorama-schedule.radiomics.overlay.yaml").read_text()),
    )
    path = work / "rehearsal.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    (work / "rehearsal.radiomics.yaml").write_text(yaml.safe_dump(radiomics, sort_keys=False))
    return path


def make_cohort(work: Path, n: int, seed: int) -> None:
    """The real-size synthetic cohort in ``<work>/cohort`` (kept when complete), by ``pdacrad synth`` in its own
    process (so that the steps after it are measured without its memory in this one)."""
    table = work / "cohort" / "cases.csv"
    if table.is_file() and len(pd.read_csv(table)) == n:
        logger.info("cohort: %s complete, kept", table)
        return
    _subprocess(
        [sys.executable, "-c", "from pdacrad.cli import main; main()", "synth", "--out", str(work / "cohort"),
         "--n", str(n), "--seed", str(seed), *COHORT_OPTIONS],
        work / "logs" / "cohort.log",
    )  # fmt: skip


def run_process(work: Path) -> None:
    """``process.py`` on the cohort's first case, given as ``.mha`` in the container's input layout."""
    case = pd.read_csv(work / "cohort" / "cases.csv")["case"].iloc[0]
    inp, out = work / "process" / "input", work / "process" / "output"
    shutil.rmtree(work / "process", ignore_errors=True)
    (inp / "images" / "venous-ct").mkdir(parents=True)
    image = sitk.ReadImage(str(work / "cohort" / "imagesTr" / f"{case}_0000.nii.gz"))
    sitk.WriteImage(image, str(inp / "images" / "venous-ct" / f"{case}.mha"))
    _subprocess(
        [sys.executable, str(ROOT / "process.py"), "--input", str(inp), "--output", str(out),
         "--resources", str(work / "resources"), "--device", "cpu"],
        work / "logs" / "process.log",
    )  # fmt: skip


def _subprocess(command: list[str], log: Path) -> None:
    """Run ``command`` with its output in ``log``; raise with the log's last lines when it fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        code = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=False).returncode
    if code != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise RuntimeError(f"{' '.join(command[:4])} … exited {code}; {log}:\n{tail}")


def run_step(step: str, work: Path, config: Path, n: int, seed: int) -> None:
    """One step of the rehearsal (see the module docstring)."""
    train = [sys.executable, "-c", "from pdacrad_train.cli import main; main()"]
    if step == "cohort":
        make_cohort(work, n, seed)
    elif step == "process":
        run_process(work)
    elif step == "probe-maps":
        from rehearsal_probes import probe_maps  # beside this script

        case = pd.read_csv(work / "cohort" / "cases.csv")["case"].iloc[0]
        maps = load_radiomics_config(load_config(config)).maps
        probe_maps(work / "cohort", case, work / "costs", maps)
    elif step == "probe-global":
        from rehearsal_probes import probe_global

        probe_global(
            work / "cohort", pd.read_csv(work / "cohort" / "cases.csv")["case"].iloc[0], work / "costs"
        )
    elif step in ("probe-stage1", "probe-stage2"):
        from rehearsal_probes import STAGE1, STAGE2, probe_network

        probe_network(work / "costs", STAGE1 if step == "probe-stage1" else STAGE2)
    elif step == "export":
        _subprocess([*train, "export", "--config", str(config)], work / "logs" / "export.log")
    else:
        _subprocess(
            [*train, "experiment", "--config", str(config), "--steps", step], work / "logs" / f"{step}.log"
        )


def write_table(work: Path) -> list[dict[str, Any]]:
    """``costs.csv`` / ``costs.json`` under ``benchmarks/results/rehearsal``: the steps' costs, each followed by
    the ledger units that ran inside it."""
    steps = read_costs(work / "costs")
    units = read_costs(work / "rehearsal" / "experiment" / "costs") if (work / "rehearsal").is_dir() else []
    rows = [{"level": "probe" if r["unit"].startswith("probe:") else "step", **r} for r in steps]
    rows += [{"level": "unit", **r} for r in units]
    rows.sort(key=lambda r: (r["started"], r["level"] != "step"))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "costs.json").write_text(json.dumps(rows, indent=1) + "\n")
    columns = ["level", "unit", "ok", "wall_s", "cpu_s", "peak_rss_gib", "disk_written_gib", "started"]
    with (RESULTS / "costs.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow(
                {**r, "peak_rss_gib": round(r["peak_rss_bytes"] / 2**30, 2),
                 "disk_written_gib": round(r["disk_written_bytes"] / 2**30, 2)}
            )  # fmt: skip
    logger.info("wrote %d rows to %s", len(rows), RESULTS / "costs.csv")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=ROOT / "work_dirs" / "rehearsal")
    parser.add_argument("--n", type=int, default=10, help="cases in the cohort")
    parser.add_argument("--seed", type=int, default=2238)
    parser.add_argument(
        "--steps", default=",".join(ALL_STEPS), help="comma-separated, of: " + ",".join(ALL_STEPS)
    )
    parser.add_argument("--table-only", action="store_true", help="only rewrite the cost table")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    steps = [s for s in args.steps.split(",") if s]
    unknown = [s for s in steps if s not in ALL_STEPS + PROBES]
    if unknown:
        parser.error(f"unknown steps {unknown}")
    if not args.table_only:
        config = write_configs(work)
        for step in (s for s in ALL_STEPS + PROBES if s in steps):
            logger.info("step %s", step)
            try:
                with UnitMeter(f"step:{step}", work / "costs"):
                    run_step(step, work, config, args.n, args.seed)
            except (RuntimeError, OSError) as error:
                logger.error("step %s failed: %s", step, error)
                write_table(work)
                return 1
    write_table(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
