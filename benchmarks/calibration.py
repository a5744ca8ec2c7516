"""Likelihood calibration of a packaged model on held-aside synthetic cases: raw likelihoods of two declared seeds
through :class:`pdacrad.inference.Pipeline` (calibration off), a Platt map fitted on the first seed's cases and
evaluated on the second's (Brier score before / after with stratified-bootstrap CIs, reliability diagram, AUROC).

    .venv/bin/python benchmarks/calibration.py --fit-seed 5050 --eval-seed 6060 --n 24 --out benchmarks/calibration
    .venv/bin/python benchmarks/calibration.py ... --write-resources    # then also resources/calibration.json

Cases are planned like ``benchmarks/detection.py`` (half positive, a quarter of the lesions texture-only,
160×160×48 voxels). Raw likelihoods go to ``<out>/raw_seed<S>.csv`` one case at a time, so a rerun resumes.
``--write-resources`` writes the fitted map into ``--resources`` and rewrites its manifest (same provenance). Rule
for the demo weights, declared before the evaluation seed ran (issue #21 item 6): ship the map iff the paired 95 %
CI of the Brier change (calibrated − raw) on the evaluation seed lies entirely below 0.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def raw_likelihoods(resources: Path, n: int, seed: int, out_csv: Path, device: str) -> pd.DataFrame:
    """``case, label, kind, raw`` of ``n`` held-aside cases of ``seed``; cases already in ``out_csv`` are kept."""
    from tqdm import tqdm

    from pdacrad.inference import InferenceConfig, Pipeline
    from pdacrad.synth.cohort import case_seed, generate_case, plan_cohort

    done = (
        pd.read_csv(out_csv) if out_csv.is_file() else pd.DataFrame(columns=["case", "label", "kind", "raw"])
    )
    plan = plan_cohort(n, seed, 0.5, 0.25)
    pipeline = None
    for k, (positive, kind) in enumerate(tqdm(plan, desc=f"seed {seed}", unit="case")):
        case = f"s{seed}_{k:03d}"
        if case in set(done["case"]):
            continue
        if pipeline is None:
            config = InferenceConfig(
                resources_dir=resources, device=device, show_progress=False, calibrate=False
            )
            pipeline = Pipeline(config)
        ct, _, record = generate_case(case, case_seed(seed, k), positive, kind, size_xyz=(160, 160, 48))
        row = {
            "case": case,
            "label": record.label,
            "kind": record.lesion_kind,
            "raw": pipeline.predict(ct).likelihood,
        }
        done = pd.concat([done, pd.DataFrame([row])], ignore_index=True)
        done.to_csv(out_csv, index=False)
    return done.iloc[:n]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resources", type=Path, default=ROOT / "resources")
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--fit-seed", type=int, default=5050)
    parser.add_argument("--eval-seed", type=int, default=6060)
    parser.add_argument("--n-bootstrap", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "calibration")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--write-resources", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from pdacrad.evaluation.calibration import Calibration, brier_replicates, reliability_bins
    from pdacrad.evaluation.plots import plot_reliability
    from pdacrad.model.calibration import fit_platt
    from pdacrad.model.manifest import CALIBRATION_NAME, load_manifest, write_manifest
    from pdacrad.stats import auroc_replicates, bootstrap_indices, percentile_interval

    args.out.mkdir(parents=True, exist_ok=True)
    fit = raw_likelihoods(
        args.resources, args.n, args.fit_seed, args.out / f"raw_seed{args.fit_seed}.csv", args.device
    )
    held = raw_likelihoods(
        args.resources, args.n, args.eval_seed, args.out / f"raw_seed{args.eval_seed}.csv", args.device
    )
    calibration = fit_platt(
        fit["raw"].to_numpy(float),
        fit["label"].to_numpy(int),
        f"held-aside phantoms of `pdacrad synth` seed {args.fit_seed} (n {args.n}, benchmarks/calibration.py); "
        f"evaluated on seed {args.eval_seed}",
    )
    y, raw = held["label"].to_numpy(int), held["raw"].to_numpy(float)
    calibrated = calibration.apply(raw)
    indices, everything = bootstrap_indices(y, args.n_bootstrap, 0), np.arange(y.size)[None]
    results, curves = {}, []
    for name, s in (("raw", raw), ("calibrated", calibrated)):
        reps = brier_replicates(y, s, indices)
        brier = percentile_interval(float(brier_replicates(y, s, everything)[0]), reps)
        results[name] = (brier, reps, float(auroc_replicates(y, s, everything)[0]))
        curves.append(Calibration(f"seed {args.eval_seed} {name}", brier, tuple(reliability_bins(y, s))))
    change = percentile_interval(
        results["calibrated"][0].estimate - results["raw"][0].estimate,
        results["calibrated"][1] - results["raw"][1],
    )
    plot_reliability(curves, args.out / "reliability.png")
    summary = {
        "resources": str(
            args.resources.relative_to(ROOT) if args.resources.is_relative_to(ROOT) else args.resources
        ),
        "fit_seed": args.fit_seed,
        "eval_seed": args.eval_seed,
        "n": args.n,
        "map": calibration.to_json(),
        **{f"Brier_{k}": [v[0].estimate, v[0].low, v[0].high] for k, v in results.items()},
        "Brier_change": [change.estimate, change.low, change.high],
        **{f"AUROC_{k}": v[2] for k, v in results.items()},
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    if args.write_resources:
        manifest = load_manifest(args.resources)
        calibration.save(args.resources / CALIBRATION_NAME)
        write_manifest(
            args.resources,
            demo=manifest.demo,
            trained_on=manifest.trained_on,
            training_config=manifest.training_config,
        )
        print(f"wrote {args.resources / CALIBRATION_NAME} and the manifest")


if __name__ == "__main__":
    main()
