"""Confounders of the synthetic cohort: findings that look like, or hide, a PDAC without being one.

Every phantom already has a hypo-attenuating (5–20 HU) common bile duct of 6–9 mm running down behind the
pancreatic head into it, and a 2.4–4 mm main pancreatic duct; the held-aside benchmark's strongest false candidate
lay on that bile duct. On top of that, each case may get (probabilities per case, see :class:`ConfounderRates`):

* ``dilated_duct`` — main pancreatic duct dilated to 5–8 mm diameter (≥ 1 mm wider than the case's normal
  duct) over its whole length, **without** a tumour (chronic pancreatitis / IPMN-like); a fluid tube that a
  detector of hypo-attenuating structures may call;
* ``dilated_cbd`` — common bile duct dilated to 11–15 mm (normal ≤ 7 mm), a round hypo-attenuating spot in the
  pancreatic head on axial slices, exactly where most PDAC arise;
* ``high_noise`` — low-dose noise: 25–40 HU standard deviation instead of 10–20 HU, which drowns small lesions
  and perturbs texture;
* ``thick_slices`` — 4–5 mm slices instead of 1.5–3 mm: partial volume along z blurs small lesions and texture.

Confounders are assigned independently of the label (the same rate among negatives and among positives), so
none of them carries information about PDAC; in a negative the dilated ducts are "duct dilation without tumour".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pdacrad.errors import InvalidInputError
from pdacrad.synth.anatomy import ARTERIES, CBD, DUCT, DUCT_T_RANGE, PANCREAS, VEINS, Phantom, cbd_centreline
from pdacrad.synth.geometry import polyline_field

#: Names of the confounders, in the order of :class:`CaseConfounders`' fields.
CONFOUNDERS = ("dilated_duct", "dilated_cbd", "high_noise", "thick_slices")
#: Noise standard deviation (HU, after the scanner blur) of a normal case and of a ``high_noise`` case.
NOISE_SD_HU = (10.0, 20.0)
HIGH_NOISE_SD_HU = (25.0, 40.0)
#: Slice spacing (= thickness, mm) of a ``thick_slices`` case (normal cases: the cohort's slice spacing range).
THICK_SLICE_SPACING_MM = (4.0, 5.0)
#: Dilated main-duct radius (mm) and the least widening over the case's normal duct (mm).
DILATED_DUCT_RADIUS_MM = (2.5, 4.0)
_MIN_DUCT_WIDENING_MM = 1.0
#: Dilated common-bile-duct radius (mm).
DILATED_CBD_RADIUS_MM = (5.5, 7.5)


@dataclass(frozen=True)
class CaseConfounders:
    """Which confounders one case has (see the module docstring)."""

    dilated_duct: bool = False
    dilated_cbd: bool = False
    high_noise: bool = False
    thick_slices: bool = False


@dataclass(frozen=True)
class ConfounderRates:
    """Per-case probability (in [0, 1]) of each confounder, applied at that rate among negatives and among
    positives alike. All zero (the default) gives the cohort without confounders, byte for byte."""

    dilated_duct: float = 0.0
    dilated_cbd: float = 0.0
    high_noise: float = 0.0
    thick_slices: float = 0.0

    def __post_init__(self) -> None:
        for name in CONFOUNDERS:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidInputError(f"confounder rate {name} must be in [0, 1], got {value}")

    @classmethod
    def from_mapping(cls, rates: Mapping[str, float]) -> ConfounderRates:
        """From ``{name: rate}``; names not given are 0.

        Raises:
            InvalidInputError: an unknown name or a rate outside [0, 1].
        """
        unknown = sorted(set(rates) - set(CONFOUNDERS))
        if unknown:
            raise InvalidInputError(
                f"unknown confounder(s) {', '.join(unknown)}; choose from {', '.join(CONFOUNDERS)}"
            )
        return cls(**{k: float(v) for k, v in rates.items()})

    @classmethod
    def parse(cls, text: str) -> ConfounderRates:
        """From ``"dilated_duct=0.3,dilated_cbd=0.3,high_noise=0.2,thick_slices=0.2"`` (empty: none)."""
        return cls.from_mapping(parse_shares(text, "--confounders"))

    def as_dict(self) -> dict[str, float]:
        """``{name: rate}`` in :data:`CONFOUNDERS` order."""
        return dataclasses.asdict(self)


def parse_shares(text: str, option: str) -> dict[str, float]:
    """``"a=0.4,b=0.6"`` → ``{"a": 0.4, "b": 0.6}``.

    Raises:
        InvalidInputError: an item that is not NAME=NUMBER, or a name given twice.
    """
    shares: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not sep or not name.strip() or number != number:
            raise InvalidInputError(f"{option} must be NAME=NUMBER items separated by commas, got {text!r}")
        if name.strip() in shares:
            raise InvalidInputError(f"{option}: {name.strip()!r} is given twice in {text!r}")
        shares[name.strip()] = number
    return shares


def dilate_duct(ph: Phantom, rng: np.random.Generator) -> float:
    """Widen the main pancreatic duct of ``ph`` along its whole length (inside pancreas and duct only);
    returns the new diameter (mm)."""
    pm = ph.pancreas
    if pm is None:
        raise ValueError("the phantom has no pancreas whose duct could be dilated")
    radius = max(float(rng.uniform(*DILATED_DUCT_RADIUS_MM)), pm.duct_radius_mm + _MIN_DUCT_WIDENING_MM)
    tube = polyline_field(ph.grid, pm.centreline_xyz_mm, margin_mm=radius + 1.0)
    if tube is not None:
        labels = ph.labels[tube.box]
        inside = (labels == PANCREAS) | (labels == DUCT)
        along = (tube.t > DUCT_T_RANGE[0]) & (tube.t < DUCT_T_RANGE[1])
        ph.paint(tube.box, tube.mask(radius) & along & inside, pm.duct_hu, DUCT)
    return 2.0 * radius


def dilate_cbd(ph: Phantom, rng: np.random.Generator) -> float:
    """Widen the common bile duct of ``ph`` along its path, over anything but vessels; returns the new diameter
    (mm)."""
    if ph.pancreas is None:
        raise ValueError("the phantom has no pancreas whose bile duct could be dilated")
    radius = float(rng.uniform(*DILATED_CBD_RADIUS_MM))
    tube = polyline_field(ph.grid, cbd_centreline(ph.pancreas), margin_mm=radius + 1.0)
    if tube is not None:
        labels = ph.labels[tube.box]
        not_vessel = (labels != VEINS) & (labels != ARTERIES)
        ph.paint(tube.box, tube.mask(radius) & not_vessel, ph.cbd_hu, CBD)
    ph.cbd_radius_mm = radius
    return 2.0 * radius


def apply_anatomical(
    ph: Phantom, confounders: CaseConfounders, rng: np.random.Generator
) -> tuple[float, float]:
    """Paint the anatomical confounders of ``confounders`` into ``ph`` (before any lesion); returns the main
    duct's and the bile duct's diameters (mm) as the case ends up with."""
    assert ph.pancreas is not None
    duct = 2.0 * ph.pancreas.duct_radius_mm
    if confounders.dilated_duct:
        duct = dilate_duct(ph, rng)
    if confounders.dilated_cbd:
        dilate_cbd(ph, rng)
    return duct, 2.0 * ph.cbd_radius_mm
