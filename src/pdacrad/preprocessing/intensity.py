"""Does an input volume look like a CT in Hounsfield units? A cheap plausibility check of the intensity histogram,
so that a volume in other units (raw detector values, a rescaled or MR image) is reported instead of silently
giving a meaningless likelihood.

A body CT in HU holds air around −1000 HU (outside the body, lungs, bowel gas) and soft tissue and fat between
−150 and 250 HU, and next to nothing above 3,000 HU (dense metal saturates at 3,071 on 12-bit scanners). The
check asks for all three with generous fractions; padding values outside the scanner's field of view (−2048,
−3024) count as air.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

#: Smallest fraction of voxels at or below −500 HU (air) a CT in HU shows.
MIN_AIR_FRACTION = 0.005
#: Smallest fraction of voxels in the soft-tissue/fat range [−150, 250] HU.
MIN_SOFT_TISSUE_FRACTION = 0.05
#: Largest fraction of voxels above 3,000 HU.
MAX_ABOVE_3000_FRACTION = 0.005
#: Smallest fraction of voxels at or below −50 HU (fat or air): below it the volume is not in HU and is refused.
MIN_FAT_OR_AIR_FRACTION = 0.01
#: Voxels sampled (evenly strided) for the check; the fractions need no more.
SAMPLE_VOXELS = 1_000_000


@dataclass(frozen=True)
class IntensityCheck:
    """Result of :func:`check_ct_intensities`.

    Attributes:
        looks_like_hu: whether all three criteria hold.
        in_hu: whether at least :data:`MIN_FAT_OR_AIR_FRACTION` of the voxels are ≤ −50 (fat or air); false means
            the values are not HU at all (the pipeline refuses such an input unless told otherwise).
        problems: one sentence per failed criterion (empty when plausible).
        percentiles_hu: the 1st, 50th and 99th percentiles of the sampled values (input units).
        air_fraction: fraction of voxels ≤ −500.
        soft_tissue_fraction: fraction of voxels in [−150, 250].
        above_3000_fraction: fraction of voxels > 3,000.
    """

    looks_like_hu: bool
    problems: tuple[str, ...]
    percentiles_hu: tuple[float, float, float]
    air_fraction: float
    soft_tissue_fraction: float
    above_3000_fraction: float
    fat_or_air_fraction: float

    @property
    def in_hu(self) -> bool:
        return self.fat_or_air_fraction >= MIN_FAT_OR_AIR_FRACTION

    @property
    def not_hu_reason(self) -> str:
        """Why the values are not HU (meaningful where :attr:`in_hu` is false)."""
        return (
            f"only {self.fat_or_air_fraction:.1%} of voxels are ≤ −50 (fat or air in HU; a CT of any body part in "
            f"HU has ≥ {MIN_FAT_OR_AIR_FRACTION:.0%}), values {self.percentiles_hu[0]:g} to "
            f"{self.percentiles_hu[2]:g} (1st–99th percentile)"
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary (for the case report)."""
        return {
            "looks_like_ct_in_hu": self.looks_like_hu,
            "in_hu": self.in_hu,
            "problems": list(self.problems),
            "percentiles_1_50_99": [round(v, 1) for v in self.percentiles_hu],
            "air_fraction": round(self.air_fraction, 4),
            "soft_tissue_fraction": round(self.soft_tissue_fraction, 4),
            "above_3000_fraction": round(self.above_3000_fraction, 4),
            "fat_or_air_fraction": round(self.fat_or_air_fraction, 4),
        }


def check_ct_intensities(ct: sitk.Image) -> IntensityCheck:
    """Check whether ``ct``'s values look like a body CT in HU (see the module docstring)."""
    values = sitk.GetArrayViewFromImage(ct).reshape(-1)
    step = max(1, values.size // SAMPLE_VOXELS)
    sample = np.asarray(values[::step], dtype=np.float32)
    air = float(np.mean(sample <= -500.0))
    soft = float(np.mean((sample >= -150.0) & (sample <= 250.0)))
    high = float(np.mean(sample > 3000.0))
    fat_or_air = float(np.mean(sample <= -50.0))
    p1, p50, p99 = (float(v) for v in np.percentile(sample, (1, 50, 99)))
    problems = []
    if air < MIN_AIR_FRACTION:
        problems.append(
            f"only {air:.1%} of voxels are ≤ −500 (air in HU; a body CT has ≥ {MIN_AIR_FRACTION:.1%})"
        )
    if soft < MIN_SOFT_TISSUE_FRACTION:
        problems.append(
            f"only {soft:.1%} of voxels are in [−150, 250] (fat and soft tissue in HU; a body CT has "
            f"≥ {MIN_SOFT_TISSUE_FRACTION:.0%})"
        )
    if high > MAX_ABOVE_3000_FRACTION:
        problems.append(f"{high:.1%} of voxels are > 3000 (beyond dense bone and most metal in HU)")
    return IntensityCheck(not problems, tuple(problems), (p1, p50, p99), air, soft, high, fat_or_air)
