"""Which patient and study each synthetic case is, and how many slices it has: PANORAMA's case ids are
``<6-digit patient>_<5-digit study>`` and some patients have two studies (so cross-validation must group by
patient), and its CTs range from under a hundred to several hundred slices.

Both are drawn per patient / per case from their own seed streams, never from the case's own seed
(:func:`pdacrad.synth.cohort.case_seed`), so a cohort without second studies and with a fixed slice count is the
same bytes as before these options existed, and every prefix of a cohort is a smaller cohort.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pdacrad.errors import InvalidInputError

FIRST_PATIENT_ID = 900000
"""The first synthetic patient id (PANORAMA's are 6 digits; 9xxxxx marks synthetic cases)."""
_SECOND_STUDY_STREAM = 2  # distinct SeedSequence keys: (seed, index, stream)
_SLICES_STREAM = 3


@dataclass(frozen=True)
class CaseSlot:
    """One case of a cohort: its id ``<patient>_<study>`` and its number of slices (z size, voxels)."""

    case: str
    size_z: int


def case_slots(
    n: int, seed: int, size_z: int, second_study_fraction: float = 0.0, slices: tuple[int, int] | None = None
) -> list[CaseSlot]:
    """The ids and slice counts of the ``n`` cases of a cohort with ``seed``.

    Patient ``p`` (id ``900000 + p``) has a second study (``…_00002``, the next case) with probability
    ``second_study_fraction``; with 0 every case is its own patient's study ``00001`` (ids
    ``900000_00001``, ``900001_00001``, …). ``slices`` (MIN, MAX): each case's slice count drawn uniformly from
    that range (inclusive); None: every case has ``size_z``.

    Raises:
        InvalidInputError: a fraction outside [0, 1] or a slice range that is not 32 <= MIN <= MAX.
    """
    if not 0.0 <= second_study_fraction <= 1.0:
        raise InvalidInputError(f"the second-study fraction must be in [0, 1], got {second_study_fraction}")
    if slices is not None and not (len(slices) == 2 and 32 <= slices[0] <= slices[1]):
        raise InvalidInputError(f"slices must be MIN,MAX with 32 <= MIN <= MAX, got {tuple(slices)}")
    ids: list[str] = []
    patient = 0
    while len(ids) < n:
        ids.append(f"{FIRST_PATIENT_ID + patient:06d}_00001")
        if (
            second_study_fraction > 0
            and _uniform(seed, patient, _SECOND_STUDY_STREAM) < second_study_fraction
        ):
            ids.append(f"{FIRST_PATIENT_ID + patient:06d}_00002")
        patient += 1
    ids = ids[:n]
    if slices is None:
        return [CaseSlot(cid, size_z) for cid in ids]
    return [
        CaseSlot(cid, slices[0] + int(_uniform(seed, k, _SLICES_STREAM) * (slices[1] - slices[0] + 1)))
        for k, cid in enumerate(ids)
    ]


def _uniform(seed: int, index: int, stream: int) -> float:
    """A uniform number in [0, 1) that depends only on (``seed``, ``index``, ``stream``)."""
    return float(np.random.default_rng(np.random.SeedSequence([seed, index, stream])).random())
