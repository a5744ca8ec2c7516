"""Held-aside gate phantoms through the container's pipeline: one or more exported model packages scored on
phantoms of a seed never trained on, optionally under both Stage-2 region rules, paired (same cases, same Stage-2
network; only the post-processing differs).

    .venv/bin/python benchmarks/held_aside.py work_dirs/gate/dice_ce/export-dice_ce --seed 4343 \\
        --name region-rule --rules baseline anchored

The phantoms are the learning gate's (``benchmarks/gate.py``): :data:`HELD_N` cases of ``pdacrad synth``, half with
an attenuation-only lesion of :data:`DIAMETER_MM` mm, the case plan and every case drawn from ``--seed``
(:data:`HELD_SEED` is the gate's, declared before its first run). Region rules: ``baseline`` keeps the tumour
probability inside Stage 2's dilated {PDAC, pancreas, duct} (the PANORAMA baseline), ``anchored`` keeps only the
parts of that region connected to the pancreas Stage 1 found (``InferenceConfig.anchor_region``).

Writes ``benchmarks/results/gate/<name>/``: ``cases.csv`` (package, rule, case, label, likelihood, Stage-1 Dice)
and ``summary.json`` (AUROC and AP by ``picai_eval``, the lesion-free and positive medians, per package and rule).
Likelihoods are raw (``--calibrate`` applies a package's ``calibration.json``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pdacrad.labels import TUMOUR_LABEL as LESION

ROOT = Path(__file__).resolve().parents[1]
#: The held-aside phantoms' seed of the learning gate, declared before its first run (training: 2121).
HELD_SEED = 4242
HELD_N = 24
DIAMETER_MM = (10.0, 35.0)
RULES = {"baseline": False, "anchored": True}  # rule name → InferenceConfig.anchor_region


def score(
    resources: Path, seed: int = HELD_SEED, n: int = HELD_N, **inference: Any
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Score the model package ``resources`` on ``n`` held-aside phantoms of ``seed``; ``inference``: more
    :class:`~pdacrad.inference.InferenceConfig` fields (e.g. ``anchor_region``, ``calibrate``). Returns the metrics
    and the per-case table (case, label, lesion kind and volume, likelihood, Stage-1 Dice)."""
    import SimpleITK as sitk
    from picai_eval import evaluate
    from tqdm import tqdm

    from pdacrad.inference import InferenceConfig, Pipeline
    from pdacrad.labels import PANCREAS_LABELS
    from pdacrad.synth.cohort import case_seed, generate_case
    from pdacrad.synth.plan import plan_cohort

    config = InferenceConfig(resources_dir=resources, device="cpu", show_progress=False, **inference)
    pipeline = Pipeline(config)
    rows, detections, truths = [], [], []
    for k, (positive, kind) in enumerate(tqdm(plan_cohort(n, seed, 0.5, 0.0), unit="case")):
        ct, labels, record = generate_case(
            f"gate{k:03d}", case_seed(seed, k), positive, kind, lesion_diameter_mm=DIAMETER_MM
        )
        result = pipeline.predict(ct)
        truth = sitk.GetArrayFromImage(labels)
        pancreas = np.isin(truth, PANCREAS_LABELS)
        predicted = sitk.GetArrayFromImage(result.pancreas_mask) > 0
        dice = 2 * (pancreas & predicted).sum() / max(pancreas.sum() + predicted.sum(), 1)
        detections.append(sitk.GetArrayFromImage(result.detection_map))
        truths.append((truth == LESION).astype(np.int32))
        rows.append(
            {
                "case": record.case,
                "label": record.label,
                "lesion_kind": record.lesion_kind,
                "lesion_volume_voxels": record.lesion_volume_voxels,
                "likelihood": result.likelihood,
                "stage1_dice": float(dice),
            }
        )
    table = pd.DataFrame(rows)
    metrics = evaluate(y_det=detections, y_true=truths, num_parallel_calls=1)
    negatives = table.loc[table.label == 0, "likelihood"]
    return {
        "n": n,
        "seed": seed,
        "inference": {k: v for k, v in inference.items()},
        "auroc": float(metrics.auroc),
        "ap": float(metrics.AP),
        "negative_median_likelihood": float(negatives.median()),
        "positive_median_likelihood": float(table.loc[table.label == 1, "likelihood"].median()),
        "stage1_dice_mean": float(table.stage1_dice.mean()),
        "stage1_dice_min": float(table.stage1_dice.min()),
    }, table


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "packages", nargs="+", type=Path, help="exported model folders (manifest.json inside)"
    )
    parser.add_argument("--seed", type=int, default=HELD_SEED, help="held-aside seed (default: the gate's)")
    parser.add_argument("--n", type=int, default=HELD_N, help="phantoms")
    parser.add_argument("--name", required=True, help="results folder under benchmarks/results/gate/")
    parser.add_argument("--rules", nargs="+", choices=tuple(RULES), default=["baseline"])
    parser.add_argument("--calibrate", action="store_true", help="apply each package's calibration.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    out = ROOT / "benchmarks" / "results" / "gate" / args.name
    summary: list[dict[str, Any]] = []
    tables = []
    for package in args.packages:
        for rule in args.rules:
            metrics, cases = score(
                package, args.seed, args.n, anchor_region=RULES[rule], calibrate=args.calibrate
            )
            summary.append({"package": str(package), "rule": rule, **metrics})
            tables.append(cases.assign(package=package.name, rule=rule))
            print(
                f"{package.name:<32} {rule:<9} AUROC {metrics['auroc']:.3f}  AP {metrics['ap']:.3f}  "
                f"lesion-free median {metrics['negative_median_likelihood']:.3f}  "
                f"positive median {metrics['positive_median_likelihood']:.3f}"
            )
    out.mkdir(parents=True, exist_ok=True)
    pd.concat(tables).to_csv(out / "cases.csv", index=False, float_format="%.6f")
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
