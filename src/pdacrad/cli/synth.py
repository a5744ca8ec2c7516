"""``pdacrad synth``: write a synthetic PANORAMA-format cohort."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from pdacrad.cli._app import app
from pdacrad.cli.plumbing import exit_on_error
from pdacrad.errors import InvalidInputError

logger = logging.getLogger(__name__)


def _parse_numbers(text: str, count: int, kind: type, option: str) -> tuple:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(kind(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != count:
        example = "X,Y,Z (e.g. 256,256,64)" if count == 3 else "MIN,MAX (e.g. 0.6,0.9)"
        raise InvalidInputError(f"{option} must be {count} comma-separated numbers {example}, got {text!r}")
    return values


_HELP = (
    "Write a synthetic PANORAMA-format cohort of anatomy-like portal-venous CT phantoms.\n\n"
    "Each case has a body wall, spine, liver, spleen, kidneys, bowel, a curved pancreas (label 4) with its main "
    "duct (5), the common bile duct (6), veins (2) and arteries (3); positive cases add one PDAC-like lesion (1) "
    "of 5–35 mm (--lesion-diameter): attenuation-only ('hypo', 30–60 HU darker), texture-only ('texture', same "
    "mean HU) or 'both', in the shares of --lesion-mix. Confounders (--confounders, per-case rates applied alike "
    "to negatives and positives): dilated_duct (main duct 5–8 mm, no tumour), dilated_cbd (bile duct 11–15 mm in "
    "the pancreatic head), high_noise (25–40 HU instead of 10–20 HU), thick_slices (4–5 mm). In-plane and slice "
    "spacing are drawn per case from the given ranges.\n\n"
    "Writes OUT/imagesTr/<case>_0000.nii.gz (int16 HU), OUT/labelsTr/<case>.nii.gz (uint8) and OUT/cases.csv "
    "(case, label, lesion_volume_voxels, lesion_kind, lesion_diameter_mm, the confounder flags, duct and bile "
    "duct diameters, noise_sd_hu, spacing). The same seed and options give byte-identical files.\n\n"
    "Example: pdacrad synth --out data/synth --n 60 --seed 1 --lesion-mix texture=0.4,hypo=0.3,both=0.3 "
    "--confounders dilated_duct=0.25,dilated_cbd=0.25"
)


@app.command("synth", help=_HELP)
def synth(
    out: Path = typer.Option(
        ..., "--out", help="Dataset folder to write (created if missing).", show_default=False
    ),
    n: int = typer.Option(..., "--n", help="Number of cases (≥ 1).", show_default=False),
    seed: int = typer.Option(0, "--seed", help="Cohort seed; case k depends only on (seed, k)."),
    positive_fraction: float = typer.Option(
        0.5, "--positive-fraction", help="Fraction of cases with a PDAC lesion (label 1), in [0, 1]."
    ),
    texture_fraction: float | None = typer.Option(
        None,
        "--texture-fraction",
        help="Older two-kind form of --lesion-mix: fraction of positive cases whose lesion differs from the "
        "pancreas only in texture (same mean HU), the rest hypo-attenuating (30–60 HU lower). In [0, 1]. "
        "Default: 0.5 unless --lesion-mix is given.",
        show_default=False,
    ),
    lesion_mix: str | None = typer.Option(
        None,
        "--lesion-mix",
        help="Shares of the lesion kinds among positives, summing to 1, e.g. texture=0.4,hypo=0.3,both=0.3 "
        "(kinds not named: 0). Not together with --texture-fraction.",
        show_default=False,
    ),
    lesion_diameter: str = typer.Option(
        "5,35", "--lesion-diameter", help="Range MIN,MAX (mm) of the lesions' nominal diameter (log-uniform)."
    ),
    balanced_sizes: bool = typer.Option(
        False,
        "--balanced-sizes",
        help="Spread each lesion kind's diameters evenly over --lesion-diameter (log scale) instead of drawing "
        "them, so that kinds do not differ in size by chance.",
    ),
    confounders: str = typer.Option(
        "",
        "--confounders",
        help="Per-case rates of confounders, e.g. dilated_duct=0.25,dilated_cbd=0.25,high_noise=0.2,"
        "thick_slices=0.2 (not named: 0).",
        show_default=False,
    ),
    size: str = typer.Option("256,256,64", "--size", help="Image size in voxels, X,Y,Z (each ≥ 32)."),
    inplane_spacing: str = typer.Option(
        "0.6,0.9", "--inplane-spacing", help="Range MIN,MAX (mm) of the in-plane spacing drawn per case."
    ),
    slice_spacing: str = typer.Option(
        "1.5,3.0", "--slice-spacing", help="Range MIN,MAX (mm) of the slice spacing drawn per case."
    ),
    slices: str | None = typer.Option(
        None,
        "--slices",
        help="Range MIN,MAX of the slice count drawn per case (e.g. 80,200); replaces --size's Z.",
        show_default=False,
    ),
    second_study_fraction: float = typer.Option(
        0.0,
        "--second-study-fraction",
        help="Share of patients with a second study (ids <patient>_00002, as in PANORAMA), in [0, 1].",
    ),
) -> None:
    """Write a synthetic PANORAMA-format cohort (see ``_HELP``); invalid options exit with code 2."""
    from pdacrad.synth import ConfounderRates, LesionMix, generate_cohort

    with exit_on_error("pdacrad synth: error"):
        size_xyz = _parse_numbers(size, 3, int, "--size")
        inplane = _parse_numbers(inplane_spacing, 2, float, "--inplane-spacing")
        slices_mm = _parse_numbers(slice_spacing, 2, float, "--slice-spacing")
        diameter = _parse_numbers(lesion_diameter, 2, float, "--lesion-diameter")
        slice_counts = None if slices is None else _parse_numbers(slices, 2, int, "--slices")
        table = generate_cohort(
            out,
            n,
            seed=seed,
            positive_fraction=positive_fraction,
            texture_fraction=texture_fraction,
            lesion_mix=None if lesion_mix is None else LesionMix.parse(lesion_mix),
            confounders=ConfounderRates.parse(confounders),
            lesion_diameter_mm=diameter,
            balanced_sizes=balanced_sizes,
            size_xyz=size_xyz,
            inplane_spacing_mm=inplane,
            slice_spacing_mm=slices_mm,
            slices=slice_counts,
            second_study_fraction=second_study_fraction,
            progress=True,
        )
    logger.debug("cases.csv:\n%s", table.to_string(index=False))
