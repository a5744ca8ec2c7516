"""Lesion candidates from a tumour probability map (``report_guided_annotation``, PI-CAI / PANORAMA semantics)."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np

# report_guided_annotation prints a citation banner on import; keep the container's stdout for our own report
with contextlib.redirect_stdout(io.StringIO()):
    from report_guided_annotation import extract_lesion_candidates


@dataclass(frozen=True)
class LesionCandidates:
    """Detection output of one case.

    Attributes:
        detection_map: float32 array with the probability map's shape and axis order; each candidate lesion is
            filled with its confidence in [0, 1], 0 elsewhere.
        confidences: one confidence per candidate, in the order ``report_guided_annotation`` returned them.
        likelihood: case-level PDAC likelihood = max of ``detection_map`` (0.0 when there is no candidate).
    """

    detection_map: np.ndarray
    confidences: tuple[float, ...]
    likelihood: float


def extract_candidates(probability: np.ndarray) -> LesionCandidates:
    """Run ``report_guided_annotation.extract_lesion_candidates`` with its defaults (dynamic-fast threshold,
    ≥ 10 voxels per candidate) on a tumour probability map and derive the case likelihood as the map's maximum.

    Args:
        probability: tumour probability in [0, 1], 3-D (any axis order; returned arrays keep it).
    """
    prob = np.asarray(probability, dtype=np.float32)
    if prob.ndim != 3:
        raise ValueError(f"probability must be 3-D, got shape {prob.shape}")
    nonzero = np.nonzero(prob > 0)
    if nonzero[0].size == 0:
        # the library's dynamic threshold handles an all-zero map, but skipping it keeps the no-tumour case cheap
        return LesionCandidates(np.zeros(prob.shape, np.float32), (), 0.0)
    # Candidates live where prob > 0, so running the library on that bounding box gives exactly its result on the
    # whole map (same components, same max-based threshold) while its per-candidate full-volume passes shrink
    # from the Stage-2 ROI to the (dilated) pancreas.
    box = tuple(slice(int(axis.min()), int(axis.max()) + 1) for axis in nonzero)
    hard_blobs, confidences, _ = extract_lesion_candidates(prob[box].astype(np.float64))
    detection_map = np.zeros(prob.shape, np.float32)
    detection_map[box] = np.clip(np.asarray(hard_blobs, dtype=np.float32), 0.0, 1.0)
    likelihood = float(detection_map.max())
    return LesionCandidates(detection_map, tuple(float(c) for _, c in confidences), likelihood)
