"""Which case of a synthetic cohort gets what: label, lesion kind and confounders, in known shares.

Assignments follow low-discrepancy (Kronecker) sequences with random phases, so every prefix of a cohort holds
close to the requested shares (not just on average), and case ``k``'s plan never depends on the cohort size:
``positive_k = frac(φ_pos + k·g) < positive_fraction`` with ``g`` the golden ratio's fractional part; the kind of
the ``j``-th positive from ``frac(φ_kind + j·g)`` binned by the lesion mix (texture, hypo, both in that order);
confounder ``c`` of the ``i``-th case of its class (negatives and positives counted apart) from
``frac(φ_c,class + i·α_c) < rate_c`` with a different irrational step ``α_c`` per confounder, chosen so that
the flags of different confounders (and the lesion kind) are not correlated over a few dozen cases. With balanced
sizes, the ``m``-th lesion of each kind sits at quantile ``frac(φ_size,kind + m·√3)`` of the diameter
distribution, so every kind spans the same sizes (left to chance, a dozen lesions of one kind can by luck be
mostly small, and "kind" would then stand for "size" in a per-kind analysis).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from pdacrad.errors import InvalidInputError
from pdacrad.synth.confounders import CONFOUNDERS, CaseConfounders, ConfounderRates, parse_shares

#: Order of the kinds' bins in the lesion mix; ``texture`` first keeps the plans of ``texture_fraction``.
MIX_KINDS = ("texture", "hypo", "both")
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
# Fractional parts of √2, √6, √11, √14: over 30 cases at rates 0.25–0.5 their indicator sequences (and the golden
# ratio's) correlate at most |r| ≈ 0.37 over random phases, no worse than independent coin flips would.
_CONFOUNDER_STEPS = dict(zip(CONFOUNDERS, (math.sqrt(k) % 1.0 for k in (2, 6, 11, 14)), strict=True))
_SIZE_STEP = math.sqrt(3.0) % 1.0
_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class LesionMix:
    """Shares of the lesion kinds among positive cases (each in [0, 1], summing to 1): ``texture`` (texture
    only, same mean HU), ``hypo`` (attenuation only) and ``both``."""

    texture: float = 0.5
    hypo: float = 0.5
    both: float = 0.0

    def __post_init__(self) -> None:
        shares = (self.texture, self.hypo, self.both)
        if not all(0.0 <= s <= 1.0 for s in shares) or abs(sum(shares) - 1.0) > _SUM_TOLERANCE:
            raise InvalidInputError(
                f"the lesion mix needs shares in [0, 1] summing to 1, got texture={self.texture}, "
                f"hypo={self.hypo}, both={self.both}"
            )

    @classmethod
    def from_texture_fraction(cls, texture_fraction: float) -> LesionMix:
        """The two-kind mix of the older ``texture_fraction`` option: texture-only vs hypo-attenuating."""
        if not 0.0 <= texture_fraction <= 1.0:
            raise InvalidInputError(f"the texture fraction must be in [0, 1], got {texture_fraction}")
        return cls(texture=texture_fraction, hypo=1.0 - texture_fraction, both=0.0)

    @classmethod
    def from_mapping(cls, shares: Mapping[str, float]) -> LesionMix:
        """From ``{kind: share}``; kinds not given are 0.

        Raises:
            InvalidInputError: an unknown kind, or shares that are not in [0, 1] or do not sum to 1.
        """
        unknown = sorted(set(shares) - set(MIX_KINDS))
        if unknown:
            raise InvalidInputError(
                f"unknown lesion kind(s) {', '.join(unknown)} in the lesion mix; choose from {', '.join(MIX_KINDS)}"
            )
        return cls(**{k: float(shares.get(k, 0.0)) for k in MIX_KINDS})

    @classmethod
    def parse(cls, text: str) -> LesionMix:
        """From ``"texture=0.4,hypo=0.3,both=0.3"``."""
        return cls.from_mapping(parse_shares(text, "--lesion-mix"))

    def kind_at(self, u: float) -> str:
        """The kind whose bin holds ``u`` in [0, 1): texture [0, t), hypo [t, t + h), both [t + h, 1)."""
        if u < self.texture:
            return "texture"
        # `both == 0` guards the float sum texture + hypo landing a hair below 1 (two-kind mixes stay two-kind).
        return "hypo" if self.both == 0.0 or u < self.texture + self.hypo else "both"

    def as_dict(self) -> dict[str, float]:
        """``{kind: share}`` in :data:`MIX_KINDS` order."""
        return {k: getattr(self, k) for k in MIX_KINDS}


@dataclass(frozen=True)
class CasePlan:
    """What case ``k`` of a cohort is: PDAC present, its lesion kind (None for negatives), its confounders, and
    the quantile of its lesion's diameter in the cohort's size distribution (None: drawn by the case)."""

    positive: bool
    kind: str | None
    confounders: CaseConfounders = field(default_factory=CaseConfounders)
    size_quantile: float | None = None


def plan_cohort(
    n: int,
    seed: int,
    positive_fraction: float,
    texture_fraction: float | None = None,
    *,
    mix: LesionMix | None = None,
) -> list[tuple[bool, str | None]]:
    """(positive, lesion kind) of the first ``n`` cases; entry k does not depend on ``n``. The kinds follow
    ``mix``, or the older two-kind ``texture_fraction`` (texture-only vs hypo); neither: :class:`LesionMix`'s
    default."""
    if texture_fraction is not None and mix is not None:
        raise InvalidInputError("give the lesion mix or the texture fraction, not both")
    if mix is None:
        mix = LesionMix() if texture_fraction is None else LesionMix.from_texture_fraction(texture_fraction)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
    phase_pos, phase_kind = rng.random(2)
    plan: list[tuple[bool, str | None]] = []
    n_pos = 0
    for k in range(n):
        positive = (phase_pos + k * _GOLDEN) % 1.0 < positive_fraction
        kind = None
        if positive:
            kind = mix.kind_at((phase_kind + n_pos * _GOLDEN) % 1.0)
            n_pos += 1
        plan.append((bool(positive), kind))
    return plan


def plan_cases(
    n: int,
    seed: int,
    positive_fraction: float,
    mix: LesionMix,
    rates: ConfounderRates,
    balanced_sizes: bool = False,
) -> list[CasePlan]:
    """:func:`plan_cohort` plus each case's confounders, assigned at ``rates`` within negatives and within
    positives separately, and with ``balanced_sizes`` each lesion's size quantile (even within each kind); entry k
    does not depend on ``n``, and rates of 0 give no confounder."""
    labels = plan_cohort(n, seed, positive_fraction, mix=mix)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC0F0]))
    keys = [(c, cls) for c in CONFOUNDERS for cls in (False, True)] + [("size", k) for k in MIX_KINDS]
    phases = dict(zip(keys, (float(p) for p in rng.random(len(keys))), strict=True))
    counts: dict[object, int] = {}
    plans = []
    for positive, kind in labels:
        i = counts[positive] = counts.get(positive, -1) + 1
        flags = {
            c: (phases[c, positive] + i * _CONFOUNDER_STEPS[c]) % 1.0 < getattr(rates, c) for c in CONFOUNDERS
        }
        quantile = None
        if balanced_sizes and kind is not None:
            m = counts[kind] = counts.get(kind, -1) + 1
            quantile = (phases["size", kind] + m * _SIZE_STEP) % 1.0
        plans.append(CasePlan(positive, kind, CaseConfounders(**flags), quantile))
    return plans
