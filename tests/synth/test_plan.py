"""Known shares: lesion kinds among positives and confounders among negatives (and positives) at the configured
rates, recorded in cases.csv and matching the images; the older texture_fraction maps onto the mix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from pdacrad.errors import InvalidInputError
from pdacrad.synth import CONFOUNDERS, CaseConfounders, ConfounderRates, LesionMix, generate_cohort
from pdacrad.synth.confounders import HIGH_NOISE_SD_HU, NOISE_SD_HU, THICK_SLICE_SPACING_MM
from pdacrad.synth.plan import plan_cases, plan_cohort

from .conftest import MIX, MIXED_N, MIXED_SEED, MIXED_SIZE, RATES

TOLERANCE_CASES = 2  # low-discrepancy assignment: counts within 2 of share × class size


def test_lesion_kinds_in_the_requested_shares(mixed_cohort: tuple[Path, pd.DataFrame]) -> None:
    out, table = mixed_cohort
    positives = table[table["label"] == 1]
    assert abs(len(positives) - MIXED_N / 2) <= TOLERANCE_CASES
    counts = positives["lesion_kind"].value_counts().to_dict()
    assert set(counts) == set(MIX), counts
    for kind, share in MIX.items():
        assert abs(counts[kind] - share * len(positives)) <= TOLERANCE_CASES, (kind, counts, len(positives))
    assert (table.loc[table["label"] == 0, "lesion_kind"] == "none").all()
    assert (positives["lesion_diameter_mm"].between(5.0, 35.0)).all()
    assert (table.loc[table["label"] == 0, "lesion_diameter_mm"] == 0.0).all()
    on_disk = pd.read_csv(out / "cases.csv", dtype={"case": str})
    pd.testing.assert_frame_equal(on_disk, table)


@pytest.mark.parametrize("label", [0, 1])
def test_confounders_at_the_configured_rate_within_each_class(
    mixed_cohort: tuple[Path, pd.DataFrame], label: int
) -> None:
    _, table = mixed_cohort
    group = table[table["label"] == label]
    for name, rate in RATES.items():
        n_flagged = int(group[name].sum())
        assert abs(n_flagged - rate * len(group)) <= TOLERANCE_CASES, (name, label, n_flagged, len(group))


def test_recorded_confounders_match_the_images(mixed_cohort: tuple[Path, pd.DataFrame]) -> None:
    out, table = mixed_cohort
    for row in table.itertuples():
        img = sitk.ReadImage(str(out / "imagesTr" / f"{row.case}_0000.nii.gz"))
        sx, _, sz = img.GetSpacing()
        assert (sx, sz) == pytest.approx((row.inplane_spacing_mm, row.slice_spacing_mm), abs=1e-6)
        low, high = THICK_SLICE_SPACING_MM if row.thick_slices else (1.5, 3.0)
        assert low <= sz <= high, row
        low, high = HIGH_NOISE_SD_HU if row.high_noise else NOISE_SD_HU
        assert low <= row.noise_sd_hu <= high, row
        assert (row.duct_diameter_mm >= 5.0) == bool(row.dilated_duct), row
        assert (row.cbd_diameter_mm >= 11.0) == bool(row.dilated_cbd), row
        lab = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "labelsTr" / f"{row.case}.nii.gz")))
        assert int((lab == 1).sum()) == row.lesion_volume_voxels


def test_same_seed_same_bytes_with_mix_and_confounders(
    mixed_cohort: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    out, _ = mixed_cohort
    generate_cohort(tmp_path, 12, seed=MIXED_SEED, lesion_mix=MIX, confounders=RATES, size_xyz=MIXED_SIZE,
                    progress=False)  # fmt: skip
    for path in sorted(tmp_path.glob("*Tr/*.nii.gz")):
        assert path.read_bytes() == (out / path.parent.name / path.name).read_bytes(), path.name
    assert (tmp_path / "cases.csv").read_text().splitlines() == (out / "cases.csv").read_text().splitlines()[
        :13
    ]


def test_texture_fraction_is_the_two_kind_mix(tmp_path: Path) -> None:
    """The older option and its mix give the same cohort, bytes and table; zero confounder rates change nothing."""
    a = generate_cohort(
        tmp_path / "a", 4, seed=2, texture_fraction=0.25, size_xyz=(48, 48, 32), progress=False
    )
    b = generate_cohort(tmp_path / "b", 4, seed=2, lesion_mix={"texture": 0.25, "hypo": 0.75},
                        confounders=ConfounderRates(), size_xyz=(48, 48, 32), progress=False)  # fmt: skip
    pd.testing.assert_frame_equal(a, b)
    for path in sorted((tmp_path / "a").glob("*Tr/*.nii.gz")):
        assert path.read_bytes() == (tmp_path / "b" / path.parent.name / path.name).read_bytes()
    assert plan_cohort(300, 5, 0.5, 0.3) == plan_cohort(300, 5, 0.5, mix=LesionMix(texture=0.3, hypo=0.7))


def test_plan_shares_on_a_long_cohort_and_prefix_stability() -> None:
    mix = LesionMix(texture=0.4, hypo=0.3, both=0.3)
    rates = ConfounderRates(**RATES)
    plans = plan_cases(400, 9, 0.5, mix, rates)
    assert plans[:40] == plan_cases(40, 9, 0.5, mix, rates), "case k never depends on n"
    kinds = [p.kind for p in plans if p.positive]
    for kind, share in mix.as_dict().items():
        assert abs(kinds.count(kind) - share * len(kinds)) <= 2
    for positive in (False, True):
        group = [p.confounders for p in plans if p.positive == positive]
        for name, rate in RATES.items():
            assert abs(sum(getattr(c, name) for c in group) - rate * len(group)) <= 2
    # Different confounders are not the same cases: every pair of flags co-occurs close to rate × rate.
    flags = np.array([[getattr(p.confounders, c) for c in CONFOUNDERS] for p in plans], dtype=float)
    corr = np.corrcoef(flags.T)
    assert np.abs(corr[np.triu_indices(len(CONFOUNDERS), 1)]).max() < 0.2, corr
    assert all(p.confounders == CaseConfounders() for p in plan_cases(50, 9, 0.5, mix, ConfounderRates()))


def test_balanced_sizes_spread_every_kind_over_the_diameter_range() -> None:
    mix, rates = LesionMix(texture=0.4, hypo=0.3, both=0.3), ConfounderRates()
    plans = plan_cases(120, 4, 0.5, mix, rates, balanced_sizes=True)
    assert [(p.positive, p.kind, p.confounders) for p in plans] == [
        (p.positive, p.kind, p.confounders) for p in plan_cases(120, 4, 0.5, mix, rates)
    ], "balancing sizes changes nothing else"
    for kind in ("texture", "hypo", "both"):
        q = np.array([p.size_quantile for p in plans if p.kind == kind])
        quarters = np.histogram(q, bins=[0, 0.25, 0.5, 0.75, 1.0])[0]
        assert quarters.min() >= len(q) // 4 - 2, (kind, quarters)
    assert all(p.size_quantile is None for p in plans if not p.positive)
    assert all(p.size_quantile is None for p in plan_cases(20, 4, 0.5, mix, rates))


def test_size_quantile_sets_the_diameter_and_nothing_else() -> None:
    from pdacrad.synth import generate_case

    drawn = generate_case("q", 8, True, "hypo", size_xyz=(64, 64, 32), lesion_diameter_mm=(6.0, 24.0))
    low = generate_case("q", 8, True, "hypo", size_xyz=(64, 64, 32), lesion_diameter_mm=(6.0, 24.0),
                        lesion_size_quantile=0.0)  # fmt: skip
    mid = generate_case("q", 8, True, "hypo", size_xyz=(64, 64, 32), lesion_diameter_mm=(6.0, 24.0),
                        lesion_size_quantile=0.5)  # fmt: skip
    assert low[2].lesion_diameter_mm == 6.0 and mid[2].lesion_diameter_mm == 12.0  # log-uniform: √(6·24)
    assert low[2].noise_sd_hu == mid[2].noise_sd_hu == drawn[2].noise_sd_hu
    a, b = sitk.GetArrayFromImage(low[1]), sitk.GetArrayFromImage(mid[1])
    np.testing.assert_array_equal(a[(a != 1) & (b != 1)], b[(a != 1) & (b != 1)])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lesion_mix": {"texture": 0.5, "hypo": 0.4}}, "sum"),
        ({"lesion_mix": {"texture": 0.5, "cyst": 0.5}}, "unknown lesion kind"),
        ({"lesion_mix": {"texture": 1.0}, "texture_fraction": 0.5}, "not both"),
        ({"confounders": {"dilated_duct": 1.5}}, "dilated_duct"),
        ({"confounders": {"pancreatitis": 0.1}}, "unknown confounder"),
        ({"lesion_diameter_mm": (20.0, 10.0)}, "lesion diameter"),
    ],
)
def test_invalid_mix_rates_and_diameters_raise_and_write_nothing(
    tmp_path: Path, kwargs: dict, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        generate_cohort(tmp_path / "out", 2, progress=False, **kwargs)
    assert not (tmp_path / "out").exists()


def test_parse_mix_and_rates() -> None:
    assert LesionMix.parse("texture=0.4, hypo=0.3,both=0.3") == LesionMix(0.4, 0.3, 0.3)
    assert LesionMix.parse("hypo=1") == LesionMix(texture=0.0, hypo=1.0, both=0.0)
    assert ConfounderRates.parse("") == ConfounderRates()
    assert ConfounderRates.parse("high_noise=0.2").high_noise == 0.2
    for bad in ("texture", "texture=x", "texture=0.5,texture=0.5"):
        with pytest.raises(InvalidInputError, match="--lesion-mix"):
            LesionMix.parse(bad)
