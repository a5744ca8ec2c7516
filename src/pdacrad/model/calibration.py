"""Calibration of the case-level likelihood: the optional ``resources/calibration.json``, the map it holds, its fit
on out-of-fold predictions, and cross-fitting.

The map is Platt scaling on the logit of the raw likelihood ``p`` (the max lesion confidence of Stage 2)::

    p' = sigmoid(a · logit(p) + b),   a > 0

Why Platt on the logit: it is strictly increasing in ``p`` on (0, 1) for every ``a > 0``, so it never reorders or ties
two cases — the AUROC (and every ranking metric) of any set of cases mapped by one map is unchanged — and it keeps
0 at 0 and 1 at 1, so the detection map's background stays zero. Isotonic regression is deliberately not offered:
its step function maps whole score ranges to one value, which creates ties and changes the AUROC.

The fit is maximum likelihood (Newton's method on the concave log-likelihood) with Platt's (1999) smoothed targets
``(n₊ + 1) / (n₊ + 2)`` for positives and ``1 / (n₋ + 2)`` for negatives, so that a cohort whose scores separate
the classes perfectly still gets a finite map. Where the scores do not rank the cases at all (the unconstrained
slope would be ≤ :data:`MIN_SLOPE`), the constrained optimum — slope :data:`MIN_SLOPE`, intercept refitted — is
taken: a near-constant map at the base rate that still keeps the order. Likewise a fit steeper than
:data:`MAX_SLOPE` (a nearly separable sample) is bounded there.

Raw likelihoods of exactly 0 or 1 are fixed points of every such map (``logit`` is infinite there): they carry no
information for the fit and are left out of it (counted in ``n_fixed``); at inference they stay 0 or 1.
Floating point: the map is strictly increasing in exact arithmetic; float64 can round two calibrated likelihoods to one
value only within ~1e-16 of 1 (``a · logit(p) + b`` > 36; hence :data:`MAX_SLOPE`), the float32 detection map
within ~6e-8 of 1.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit, logit

from pdacrad.errors import ResourceError
from pdacrad.io.json_files import read_json_object
from pdacrad.model.manifest import CALIBRATION_NAME

logger = logging.getLogger(__name__)

CALIBRATION_FORMAT_VERSION = 1
PLATT = "platt-logit"
MIN_SLOPE = 0.01
"""Smallest slope ``a`` of a fitted map: scores that do not rank the cases get this near-flat, still increasing map."""
MAX_SLOPE = 5.0
"""Largest slope ``a`` of a fitted map. A steeper fit comes from a few nearly separable cases (e.g. one fold of 30)
and would push likelihoods so close to 0 or 1 that float64 rounds neighbours to the same value, creating ties
(and changing the AUROC); calibrated maps of trained detectors have slopes of order 1."""
_MAX_NEWTON_STEPS = 100


@dataclass(frozen=True)
class LikelihoodCalibration:
    """A Platt map ``p' = sigmoid(slope · logit(p) + intercept)`` of the case likelihood, with its provenance.

    Attributes:
        slope, intercept: ``a > 0`` and ``b`` of the map (on the logit scale).
        method: :data:`PLATT`.
        fitted_on: what the map was fitted on, in words (e.g. the variant and predictions folder).
        n_cases, n_positive: cases (and PDAC cases among them) the fit used.
        n_fixed: cases left out of the fit because their raw likelihood was exactly 0 or 1.
    """

    slope: float
    intercept: float
    method: str = PLATT
    fitted_on: str = ""
    n_cases: int = 0
    n_positive: int = 0
    n_fixed: int = 0

    def __post_init__(self) -> None:
        if self.method != PLATT:
            raise ValueError(f"unknown calibration method {self.method!r} (known: {PLATT})")
        if not (math.isfinite(self.slope) and self.slope > 0.0 and math.isfinite(self.intercept)):
            raise ValueError(f"a calibration needs a finite slope > 0 and a finite intercept, got {self}")

    def apply(self, likelihood: np.ndarray | float) -> np.ndarray:
        """The calibrated values of raw likelihoods in [0, 1] (any shape; float64 out). 0 and 1 map to
        themselves."""
        with np.errstate(divide="ignore"):
            return np.asarray(
                expit(self.slope * logit(np.asarray(likelihood, dtype=np.float64)) + self.intercept)
            )

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``calibration.json`` (with ``format_version``)."""
        return {"format_version": CALIBRATION_FORMAT_VERSION, **asdict(self)}

    def save(self, path: Path) -> None:
        """Write ``path`` (sorted keys, no timestamp: the same fit gives the same bytes and sha256)."""
        Path(path).write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> LikelihoodCalibration:
        """Read a ``calibration.json``.

        Raises:
            ResourceError: the file is not JSON, has another format version, lacks a key, or holds an
                invalid map (slope ≤ 0, non-finite values, unknown method); the message names the file.
        """
        path = Path(path)
        raw = read_json_object(path)
        if raw.get("format_version") != CALIBRATION_FORMAT_VERSION:
            raise ResourceError(
                f"{path}: format_version {raw.get('format_version')!r} is not {CALIBRATION_FORMAT_VERSION}; "
                "re-export the model with this version of pdacrad"
            )
        missing = [k for k in ("method", "slope", "intercept") if k not in raw]
        if missing:
            raise ResourceError(f"{path} lacks required key(s) {missing}")
        try:
            return cls(
                slope=_number(raw["slope"]),
                intercept=_number(raw["intercept"]),
                method=str(raw["method"]),
                fitted_on=str(raw.get("fitted_on", "")),
                n_cases=int(raw.get("n_cases", 0)),
                n_positive=int(raw.get("n_positive", 0)),
                n_fixed=int(raw.get("n_fixed", 0)),
            )
        except (TypeError, ValueError) as exc:
            raise ResourceError(f"{path}: invalid calibration ({exc})") from None


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def fit_platt(
    scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray, fitted_on: str = ""
) -> LikelihoodCalibration:
    """Fit the map by maximum likelihood on raw likelihoods ``scores`` in [0, 1] and 0/1 ``labels`` (same order).

    Raises:
        ValueError: shapes differ, a score lies outside [0, 1], or the cases with a score strictly inside (0, 1)
            do not hold both classes.
    """
    p = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    if p.ndim != 1 or p.shape != y.shape:
        raise ValueError(f"scores and labels must be 1-D of one length, got {p.shape} and {y.shape}")
    if not np.all((p >= 0.0) & (p <= 1.0)):
        raise ValueError("scores must lie in [0, 1]")
    inside = (p > 0.0) & (p < 1.0)
    x, y = logit(p[inside]), y[inside]
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"calibration needs positive and negative cases with a likelihood inside (0, 1), got {n_pos} and {n_neg}"
        )
    targets = np.where(y, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    slope, intercept = _newton(np.stack([x, np.ones_like(x)], axis=1), targets)
    if not MIN_SLOPE <= slope <= MAX_SLOPE:
        bound = min(max(slope, MIN_SLOPE), MAX_SLOPE)
        logger.warning(
            "fitted slope %.3g is outside [%g, %g] (%s): slope %g, intercept refitted",
            slope,
            MIN_SLOPE,
            MAX_SLOPE,
            "the likelihoods do not rank the cases"
            if slope < MIN_SLOPE
            else "the cases are nearly separable",
            bound,
        )
        slope = bound
        intercept = float(_newton(np.ones((x.size, 1)), targets, slope * x)[0])
    return LikelihoodCalibration(
        slope=float(slope),
        intercept=float(intercept),
        fitted_on=fitted_on,
        n_cases=int(x.size),
        n_positive=n_pos,
        n_fixed=int(p.size - x.size),
    )


def _newton(design: np.ndarray, targets: np.ndarray, offset: np.ndarray | float = 0.0) -> np.ndarray:
    """Coefficients ``w`` minimising the cross-entropy of ``sigmoid(design @ w + offset)`` against soft
    ``targets`` in (0, 1): Newton's method with step halving (the loss is strictly convex: a unique optimum)."""

    def loss(w: np.ndarray) -> float:
        z = design @ w + offset
        return float(np.sum(np.logaddexp(0.0, z) - targets * z))

    w = np.zeros(design.shape[1])
    current = loss(w)
    for _ in range(_MAX_NEWTON_STEPS):
        q = expit(design @ w + offset)
        gradient = design.T @ (q - targets)
        hessian = (design * (q * (1.0 - q))[:, None]).T @ design
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        while (candidate := loss(w - size * step)) > current and size > 1e-10:
            size /= 2.0
        w, current = w - size * step, candidate
        if np.max(np.abs(size * step)) < 1e-12:
            break
    return w


def cross_fit(
    scores: np.ndarray, labels: np.ndarray, folds: Sequence[str] | np.ndarray
) -> tuple[np.ndarray, dict[str, LikelihoodCalibration]]:
    """Cross-fitted calibration: each fold's scores mapped by a map fitted on the *other* folds' cases only.

    Args:
        scores: raw likelihoods in [0, 1], shape ``(n,)``.
        labels: 0/1, shape ``(n,)``.
        folds: each case's fold id, shape ``(n,)``; at least two folds.

    Returns:
        ``(calibrated scores (n,), fold id → the map applied to that fold)``. Within a fold the order of the scores
        is kept, so a fold's AUROC is unchanged; pooled over folds it may change (each fold has its own map).
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    fold_ids = np.asarray(folds).astype(str)
    names = sorted(set(fold_ids.tolist()))
    if len(names) < 2:
        raise ValueError(f"cross-fitting needs at least two folds, got {names}")
    out = np.empty_like(scores)
    maps = {}
    for name in names:
        held_out = fold_ids == name
        maps[name] = fit_platt(scores[~held_out], labels[~held_out], f"folds other than {name}")
        out[held_out] = maps[name].apply(scores[held_out])
    return out, maps


def load_resources_calibration(resources_dir: Path, listed: Sequence[str]) -> LikelihoodCalibration | None:
    """``resources_dir/calibration.json`` if the model has one, else ``None`` (logged: the likelihood is then the
    raw max lesion confidence, not a calibrated probability).

    Args:
        listed: the files the verified manifest lists (relative paths); a calibration file must be one of them.

    Raises:
        ResourceError: the file exists but the manifest does not list it (so its integrity is unchecked), or it
            is malformed (:meth:`LikelihoodCalibration.load`).
    """
    path = Path(resources_dir) / CALIBRATION_NAME
    if not path.is_file():
        logger.info(
            "no %s in %s: the likelihood is uncalibrated (raw max lesion confidence)",
            CALIBRATION_NAME,
            resources_dir,
        )
        return None
    if CALIBRATION_NAME not in listed:
        raise ResourceError(
            f"{path} is not listed in the manifest, so its integrity cannot be checked; re-export the model "
            "(pdacrad-train export) or remove the file"
        )
    calibration = LikelihoodCalibration.load(path)
    logger.info(
        "likelihood calibration %s: slope %.4g, intercept %.4g (fitted on %s: %d cases, %d PDAC)",
        calibration.method,
        calibration.slope,
        calibration.intercept,
        calibration.fitted_on or "unknown",
        calibration.n_cases,
        calibration.n_positive,
    )
    return calibration
