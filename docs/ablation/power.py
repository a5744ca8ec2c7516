"""Pre-declared power of the second synthetic study's primary comparison (issue #21 item 7): ``base`` vs ``+maps``
on texture-only lesions against all negatives, paired ΔAUROC = 0.15, two-sided α = 0.05, power 0.8.

    .venv/bin/python docs/ablation/power.py > docs/ablation/power.csv

Method: the variance of each AUROC by Hanley & McNeil (1982, Radiology 143:29), the variance of the paired
difference V₁ + V₂ − 2·r·√(V₁V₂) with r the correlation of the two AUROC estimates (Hanley & McNeil 1983,
Radiology 148:839; r is unknown before the run, so three values are tabulated: the first study measured r = −0.66
with final and +0.84 with selected checkpoints, between networks that had not learned the lesion class, so neither
is a planning value). The smallest cohort size n (cases in all, the first study's mix: half positive, 40 % of the
positives texture-only, so 0.2·n texture positives against 0.5·n negatives) with power ≥ 0.8 for a normal test of
the difference. Also the power of the first study's design (n = 60) and of the sizes this CPU allows.
"""

from __future__ import annotations

import sys
from math import sqrt

import pandas as pd
from scipy.stats import norm

ALPHA, POWER, DELTA = 0.05, 0.8, 0.15
BASE_AUROC = 0.70  # assumed: a CT-only network that sees texture lesions only through their shape and context
MAPS_AUROC = BASE_AUROC + DELTA
TEXTURE_SHARE, NEGATIVE_SHARE = 0.2, 0.5  # of all cases (the first study's mix)
CORRELATIONS = (0.3, 0.5, 0.7)


def hanley_mcneil_variance(auroc: float, n_positive: int, n_negative: int) -> float:
    """Variance of an AUROC estimate from ``n_positive`` and ``n_negative`` cases (Hanley & McNeil 1982)."""
    q1, q2 = auroc / (2 - auroc), 2 * auroc**2 / (1 + auroc)
    return (auroc * (1 - auroc) + (n_positive - 1) * (q1 - auroc**2) + (n_negative - 1) * (q2 - auroc**2)) / (
        n_positive * n_negative
    )


def power(n_cases: int, r: float) -> float:
    """Power of the two-sided paired test of ΔAUROC = :data:`DELTA` with ``n_cases`` cases in all."""
    n_pos, n_neg = round(TEXTURE_SHARE * n_cases), round(NEGATIVE_SHARE * n_cases)
    v1 = hanley_mcneil_variance(BASE_AUROC, n_pos, n_neg)
    v2 = hanley_mcneil_variance(MAPS_AUROC, n_pos, n_neg)
    se = sqrt(v1 + v2 - 2 * r * sqrt(v1 * v2))
    return float(norm.cdf(DELTA / se - norm.ppf(1 - ALPHA / 2)))


def main() -> None:
    rows = []
    for r in CORRELATIONS:
        needed = next(n for n in range(20, 5000, 5) if power(n, r) >= POWER)
        rows.append(
            {
                "r": r,
                "n_cases_for_80pct_power": needed,
                "texture_positives": round(TEXTURE_SHARE * needed),
                "negatives": round(NEGATIVE_SHARE * needed),
                "power_at_60": round(power(60, r), 3),
                "power_at_120": round(power(120, r), 3),
                "power_at_200": round(power(200, r), 3),
            }
        )
    pd.DataFrame(rows).to_csv(sys.stdout, index=False)


if __name__ == "__main__":
    main()
