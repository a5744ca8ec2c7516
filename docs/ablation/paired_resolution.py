"""The resolution of the first study's paired comparisons: for each variant against ``base``, the DeLong 95% CI of
ΔAUROC next to the CI half-width of the variant's own AUROC, from the committed case likelihoods.

    .venv/bin/python docs/ablation/paired_resolution.py > docs/ablation/paired_resolution.csv

Backs the sentence on resolution in README.md, "What it shows" (issue #21 item 8).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from pdacrad.stats import delong_covariance

RECORD = Path(__file__).resolve().parent / "record"
Z95 = 1.959964


def likelihoods(table: str, variant: str) -> dict[str, float]:
    """Case id → likelihood of one variant's committed CV predictions."""
    files = (RECORD / table / variant).glob("fold_*/*/likelihood.json")
    return {f.parent.name: float(json.loads(f.read_text())) for f in files}


def main() -> None:
    labels = pd.read_csv(RECORD / "cases.csv").set_index("case")["label"]
    rows = []
    for table, checkpoint in (("cv_predictions_final", "final"), ("cv_predictions", "picai")):
        base = likelihoods(table, "base")
        ids = sorted(base)
        y = labels.loc[ids].to_numpy()
        for variant in ("maps", "global", "both"):
            scores = likelihoods(table, variant)
            aucs, cov = delong_covariance(
                y, np.array([base[i] for i in ids]), np.array([scores[i] for i in ids])
            )
            delta = aucs[1] - aucs[0]
            half = Z95 * np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
            rows.append(
                {
                    "checkpoint": checkpoint,
                    "variant": variant,
                    "n_cases": len(ids),
                    "delta_AUROC": round(delta, 4),
                    "delta_CI_low": round(delta - half, 4),
                    "delta_CI_high": round(delta + half, 4),
                    "delta_CI_half_width": round(half, 4),
                    "variant_AUROC_CI_half_width": round(Z95 * np.sqrt(cov[1, 1]), 4),
                }
            )
    pd.DataFrame(rows).to_csv(sys.stdout, index=False)


if __name__ == "__main__":
    main()
