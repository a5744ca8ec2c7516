"""Acceptance of a packaged model on held-aside synthetic cases: Stage-1 pancreas Dice and case-level detection
(AUROC, AP, PI-CAI score by ``picai_eval``), everything run through :class:`pdacrad.inference.Pipeline`.

    .venv/bin/python benchmarks/detection.py [--resources resources] [--n 12] [--seed 2026]

The cohort is planned like the demo training cohort (``pdacrad.synth``: half positive, a quarter of the lesions
texture-only, 160×160×48 voxels) but from a seed the training never used (demo training: 0, its hold-out: 1000).
Targets (issue 5): mean Stage-1 Dice ≥ 0.8 and AUROC ≥ 0.8.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two boolean masks (1.0 when both are empty)."""
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resources", type=Path, default=ROOT / "resources")
    parser.add_argument("--n", type=int, default=12)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--texture-fraction", type=float, default=0.25)
    parser.add_argument("--size-xyz", type=int, nargs=3, default=(160, 160, 48))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    import SimpleITK as sitk
    from picai_eval import evaluate
    from tqdm import tqdm

    from pdacrad.inference import InferenceConfig, Pipeline
    from pdacrad.labels import PANCREAS_LABELS
    from pdacrad.synth.cohort import case_seed, generate_case, plan_cohort

    pipeline = Pipeline(
        InferenceConfig(resources_dir=args.resources, device=args.device, show_progress=False)
    )
    rows, detections, truths = [], [], []
    plan = plan_cohort(args.n, args.seed, 0.5, args.texture_fraction)
    for k, (positive, kind) in enumerate(tqdm(plan, desc="cases", unit="case")):
        ct, labels, record = generate_case(
            f"eval{k:03d}", case_seed(args.seed, k), positive, kind, size_xyz=tuple(args.size_xyz)
        )
        t0 = time.perf_counter()
        result = pipeline.predict(ct)
        seconds = time.perf_counter() - t0
        truth = sitk.GetArrayFromImage(labels)
        d = dice(sitk.GetArrayFromImage(result.pancreas_mask) > 0, np.isin(truth, PANCREAS_LABELS))
        detections.append(sitk.GetArrayFromImage(result.detection_map))
        truths.append((truth == 1).astype(np.int32))
        rows.append(
            (
                record.case,
                record.label,
                record.lesion_kind,
                record.lesion_volume_voxels,
                d,
                result.likelihood,
                seconds,
            )
        )
    metrics = evaluate(y_det=detections, y_true=truths, num_parallel_calls=1)

    print(f"\nheld-aside synthetic cases: n={args.n}, seed={args.seed}, resources={args.resources}")
    print("\n| case | PDAC | kind | lesion voxels | Stage-1 Dice | likelihood | seconds |")
    print("|---|---|---|---|---|---|---|")
    for case, label, kind, vox, d, lik, sec in rows:
        print(f"| {case} | {label} | {kind} | {vox} | {d:.3f} | {lik:.4f} | {sec:.1f} |")
    dices = np.array([r[4] for r in rows])
    print(f"\nStage-1 Dice: mean {dices.mean():.3f}, min {dices.min():.3f}  (target mean ≥ 0.8)")
    print(
        f"picai_eval: AUROC {metrics.auroc:.3f} (target ≥ 0.8), AP {metrics.AP:.3f}, score {metrics.score:.3f}"
    )


if __name__ == "__main__":
    main()
