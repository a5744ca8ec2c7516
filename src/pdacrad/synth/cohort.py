"""Synthetic PANORAMA-format cohort: one case (:func:`generate_case`) and a dataset folder
(:func:`generate_cohort`), deterministic for a seed.

Layout written (SPEC.md): ``DIR/imagesTr/<case>_0000.nii.gz`` (int16 HU), ``DIR/labelsTr/<case>.nii.gz``
(uint8: 0 background, 1 PDAC, 2 veins, 3 arteries, 4 pancreas, 5 pancreatic duct, 6 common bile duct) and
``DIR/cases.csv`` (case, label, lesion_volume_voxels, lesion_kind, then what else was drawn per case: see
:class:`CaseRecord`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from tqdm import tqdm

from pdacrad.errors import InvalidInputError
from pdacrad.synth.anatomy import build_phantom
from pdacrad.synth.confounders import (
    HIGH_NOISE_SD_HU,
    NOISE_SD_HU,
    THICK_SLICE_SPACING_MM,
    CaseConfounders,
    ConfounderRates,
    apply_anatomical,
)
from pdacrad.synth.geometry import Grid
from pdacrad.synth.lesions import (
    DEFAULT_DIAMETER_MM,
    DRAWN_KINDS,
    LESION_KINDS,
    add_lesion,
    match_texture_mean,
)
from pdacrad.synth.noise import scan
from pdacrad.synth.plan import LesionMix, plan_cases, plan_cohort
from pdacrad.synth.studies import FIRST_PATIENT_ID, case_slots

logger = logging.getLogger(__name__)

DEFAULT_SIZE_XYZ = (256, 256, 64)
DEFAULT_INPLANE_SPACING_MM = (0.6, 0.9)
DEFAULT_SLICE_SPACING_MM = (1.5, 3.0)
_MAX_CASES = 100000
_MIN_SIZE = 32
_MAX_DIAMETER_MM = 60.0

__all__ = [
    "CASES_CSV_COLUMNS",
    "CaseRecord",
    "case_id",
    "case_seed",
    "generate_case",
    "generate_cohort",
    "plan_cohort",
    "write_image_atomic",
]


@dataclass(frozen=True)
class CaseRecord:
    """One row of ``cases.csv``. The SPEC's four columns: case id, PDAC present (0/1), label-1 voxel count,
    lesion kind ("none" | "hypo" | "texture" | "both"); then the lesion's nominal diameter (mm, 0 without one),
    the confounder flags (0/1, see :mod:`pdacrad.synth.confounders`), the main duct's and bile duct's diameters
    (mm), the noise standard deviation (HU) and the spacing (mm, in-plane and slice)."""

    case: str
    label: int
    lesion_volume_voxels: int
    lesion_kind: str
    lesion_diameter_mm: float = 0.0
    dilated_duct: int = 0
    dilated_cbd: int = 0
    high_noise: int = 0
    thick_slices: int = 0
    duct_diameter_mm: float = 0.0
    cbd_diameter_mm: float = 0.0
    noise_sd_hu: float = 0.0
    inplane_spacing_mm: float = 0.0
    slice_spacing_mm: float = 0.0


CASES_CSV_COLUMNS = tuple(f.name for f in fields(CaseRecord))


def case_id(index: int) -> str:
    """PANORAMA-like id of the ``index``-th synthetic case (0-based): ``900000_00001``, ``900001_00001``, …"""
    return f"{FIRST_PATIENT_ID + index:06d}_00001"


def generate_case(
    case_id: str,
    seed: int,
    positive: bool,
    lesion_kind: str | None = None,
    *,
    size_xyz: tuple[int, int, int] = DEFAULT_SIZE_XYZ,
    spacing_xyz_mm: tuple[float, float, float] | None = None,
    inplane_spacing_mm: tuple[float, float] = DEFAULT_INPLANE_SPACING_MM,
    slice_spacing_mm: tuple[float, float] = DEFAULT_SLICE_SPACING_MM,
    lesion_diameter_mm: tuple[float, float] = DEFAULT_DIAMETER_MM,
    lesion_size_quantile: float | None = None,
    confounders: CaseConfounders = CaseConfounders(),
) -> tuple[sitk.Image, sitk.Image, CaseRecord]:
    """Build one synthetic portal-venous CT and its label map.

    Args:
        case_id: identifier stored in the record.
        seed: all randomness of the case; geometry, anatomy, lesion, noise and confounders use independent child
            streams, so the positive and negative versions of a seed share the same anatomy, and a case without
            confounders is the same bytes as before confounders existed.
        positive: whether to add a PDAC lesion (label 1).
        lesion_kind: "hypo", "texture" or "both" for a positive case (None: hypo or texture, 50/50 from the
            seed); must be None or "none" for a negative case.
        size_xyz: image size in voxels (x, y, z).
        spacing_xyz_mm: fixed spacing (mm, x, y, z); None draws the in-plane spacing (x = y) uniformly from
            ``inplane_spacing_mm`` and the slice spacing from ``slice_spacing_mm`` (from 4–5 mm with
            ``confounders.thick_slices``).
        lesion_diameter_mm: range (MIN, MAX) of the lesion's nominal diameter (mm), drawn log-uniformly.
        lesion_size_quantile: the diameter's quantile in [0, 1) of that distribution instead of a draw (the
            lesion's place, shape and texture stay as drawn).
        confounders: which confounders to give the case (:mod:`pdacrad.synth.confounders`).

    Returns:
        (image, labels, record): int16 HU image and uint8 label image with identical geometry (identity
        direction), and the :class:`CaseRecord`.
    """
    _check_size(size_xyz)
    _check_range("lesion diameter", lesion_diameter_mm, _MAX_DIAMETER_MM)
    kind = _resolve_kind(positive, lesion_kind)
    ss = np.random.SeedSequence(seed)
    rng_geom, rng_anat, rng_lesion, rng_scan = (np.random.default_rng(s) for s in ss.spawn(4))
    rng_conf = np.random.default_rng(ss.spawn(1)[0])  # a fifth stream: the first four stay as they were
    slice_range = THICK_SLICE_SPACING_MM if confounders.thick_slices else slice_spacing_mm
    grid = _draw_grid(size_xyz, spacing_xyz_mm, inplane_spacing_mm, slice_range, rng_geom)
    phantom = build_phantom(grid, rng_anat)
    duct_mm, cbd_mm = apply_anatomical(phantom, confounders, rng_conf)
    volume, diameter = 0, 0.0
    if positive:
        if kind is None:
            kind = DRAWN_KINDS[int(rng_lesion.integers(0, len(DRAWN_KINDS)))]
        info = add_lesion(
            phantom, kind, rng_lesion, diameter_mm=lesion_diameter_mm, size_quantile=lesion_size_quantile
        )
        volume, diameter = info.voxels, info.diameter_mm
    noise_sd = float(rng_scan.uniform(*(HIGH_NOISE_SD_HU if confounders.high_noise else NOISE_SD_HU)))
    ct = scan(phantom.hu, grid, noise_sd_hu=noise_sd, rng=rng_scan)
    if kind == "texture" and positive:
        shift = match_texture_mean(ct, phantom.labels, grid.spacing_xyz_mm)
        logger.debug("%s: texture lesion mean matched to the surrounding pancreas (%+.0f HU)", case_id, shift)
    image, labels = sitk.GetImageFromArray(ct), sitk.GetImageFromArray(phantom.labels)
    for img in (image, labels):
        img.SetSpacing(grid.spacing_xyz_mm)
        img.SetOrigin(grid.origin_xyz_mm)
        img.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    record = CaseRecord(
        case=case_id,
        label=int(positive),
        lesion_volume_voxels=int(volume),
        lesion_kind=kind if positive and kind is not None else "none",
        lesion_diameter_mm=round(diameter, 1),
        **{k: int(v) for k, v in asdict(confounders).items()},
        duct_diameter_mm=round(duct_mm, 1),
        cbd_diameter_mm=round(cbd_mm, 1),
        noise_sd_hu=round(noise_sd, 1),
        inplane_spacing_mm=grid.spacing_xyz_mm[0],
        slice_spacing_mm=grid.spacing_xyz_mm[2],
    )
    return image, labels, record


def generate_cohort(
    out_dir: Path,
    n: int,
    seed: int = 0,
    positive_fraction: float = 0.5,
    *,
    texture_fraction: float | None = None,
    lesion_mix: LesionMix | Mapping[str, float] | None = None,
    confounders: ConfounderRates | Mapping[str, float] | None = None,
    lesion_diameter_mm: tuple[float, float] = DEFAULT_DIAMETER_MM,
    balanced_sizes: bool = False,
    size_xyz: tuple[int, int, int] = DEFAULT_SIZE_XYZ,
    inplane_spacing_mm: tuple[float, float] = DEFAULT_INPLANE_SPACING_MM,
    slice_spacing_mm: tuple[float, float] = DEFAULT_SLICE_SPACING_MM,
    slices: tuple[int, int] | None = None,
    second_study_fraction: float = 0.0,
    progress: bool = True,
) -> pd.DataFrame:
    """Write ``n`` synthetic cases in PANORAMA / nnU-Net raw format under ``out_dir`` and return ``cases.csv``.

    Case ``k`` depends only on (``seed``, ``k``) and the options, never on ``n``: a larger cohort extends a
    smaller one. Which cases are positive, the kind of each lesion (shares ``lesion_mix``: texture-only,
    attenuation-only "hypo", "both") and each case's confounders (rates ``confounders``, within negatives and
    within positives alike) follow low-discrepancy sequences (:mod:`pdacrad.synth.plan`), so every prefix of
    the cohort holds close to the requested shares; ``balanced_sizes`` spreads each kind's lesion diameters evenly
    over ``lesion_diameter_mm`` (log scale) instead of drawing them, so that kinds do not differ in size by
    chance. ``texture_fraction`` is the older two-kind form of the mix
    (texture vs hypo); give one or the other (neither: texture 0.5, hypo 0.5). ``slices`` (MIN, MAX) draws each
    case's slice count instead of ``size_xyz``'s z; ``second_study_fraction`` gives that share of patients a
    second study (ids ``<patient>_00002``; :func:`pdacrad.synth.studies.case_slots`), a case of its own. Each file
    is written under a temporary name in its folder and renamed when complete.

    Raises:
        InvalidInputError: n < 1 (or too large), a fraction or rate outside [0, 1], a mix that does not sum to 1,
            both ``texture_fraction`` and ``lesion_mix``, a bad size, spacing or diameter range.
    """
    mix = _resolve_mix(texture_fraction, lesion_mix)
    rates = (
        confounders
        if isinstance(confounders, ConfounderRates)
        else ConfounderRates.from_mapping(confounders or {})
    )
    _check_cohort_args(n, positive_fraction, size_xyz, inplane_spacing_mm, slice_spacing_mm)
    _check_range("lesion diameter", lesion_diameter_mm, _MAX_DIAMETER_MM)
    out_dir = Path(out_dir)
    images_dir, labels_dir = out_dir / "imagesTr", out_dir / "labelsTr"
    images_dir.mkdir(parents=True, exist_ok=True)
    labels_dir.mkdir(parents=True, exist_ok=True)
    records: list[CaseRecord] = []
    plans = plan_cases(n, seed, positive_fraction, mix, rates, balanced_sizes)
    slots = case_slots(n, seed, size_xyz[2], second_study_fraction, slices)
    for k, (plan, slot) in enumerate(
        tqdm(list(zip(plans, slots, strict=True)), desc="synth", unit="case", disable=not progress)
    ):
        cid = slot.case
        image, labels, record = generate_case(
            cid,
            case_seed(seed, k),
            plan.positive,
            plan.kind,
            size_xyz=(size_xyz[0], size_xyz[1], slot.size_z),
            inplane_spacing_mm=inplane_spacing_mm,
            slice_spacing_mm=slice_spacing_mm,
            lesion_diameter_mm=lesion_diameter_mm,
            lesion_size_quantile=plan.size_quantile,
            confounders=plan.confounders,
        )
        write_image_atomic(image, images_dir / f"{cid}_0000.nii.gz")
        write_image_atomic(labels, labels_dir / f"{cid}.nii.gz")
        records.append(record)
    table = pd.DataFrame([asdict(r) for r in records], columns=list(CASES_CSV_COLUMNS))
    _write_csv_atomic(table, out_dir / "cases.csv")
    _warn_about_stale_cases(images_dir, set(table["case"]))
    logger.info(
        "wrote %d synthetic cases (%d positive) to %s (imagesTr/, labelsTr/, cases.csv)",
        len(table),
        int(table["label"].sum()),
        out_dir,
    )
    return table


def case_seed(seed: int, index: int) -> int:
    """The 63-bit seed of case ``index`` of a cohort with ``seed``: a function of both only."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def write_image_atomic(image: sitk.Image, path: Path) -> None:
    """Write a gzip-compressed NIfTI to ``path`` via a temporary name in the same folder, then rename.

    The temporary name keeps the ``.nii.gz`` suffix (SimpleITK chooses the writer from it) and starts with a
    dot; it is removed if writing fails, so an interrupted run leaves no file under ``path``.
    """
    tmp = path.with_name(f".{path.name[: -len('.nii.gz')]}.partial-{os.getpid()}.nii.gz")
    try:
        sitk.WriteImage(image, str(tmp), useCompression=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_csv_atomic(table: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        table.to_csv(tmp, index=False, lineterminator="\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _warn_about_stale_cases(images_dir: Path, written: set[str]) -> None:
    """Cases left over from an earlier, larger run are not deleted (they are the user's files) but would be
    picked up by a converter that lists ``imagesTr/``: say so."""
    stale = sorted(
        p.name for p in images_dir.glob("*_0000.nii.gz") if p.name[: -len("_0000.nii.gz")] not in written
    )
    if stale:
        logger.warning(
            "%s holds %d image(s) not in cases.csv from an earlier run (e.g. %s); delete them or use a new folder",
            images_dir,
            len(stale),
            stale[0],
        )


def _draw_grid(
    size_xyz: tuple[int, int, int],
    spacing_xyz_mm: tuple[float, float, float] | None,
    inplane_range: tuple[float, float],
    slice_range: tuple[float, float],
    rng: np.random.Generator,
) -> Grid:
    """Spacing (given, or drawn and rounded to µm) and a scanner-like origin: FOV centred on the table axis
    in x/y with a small offset, z at a typical abdominal table position."""
    if spacing_xyz_mm is None:
        inplane = round(float(rng.uniform(*inplane_range)), 3)
        spacing = (inplane, inplane, round(float(rng.uniform(*slice_range)), 3))
    else:
        if len(spacing_xyz_mm) != 3 or not all(s > 0 for s in spacing_xyz_mm):
            raise InvalidInputError(
                f"spacing_xyz_mm must be three positive numbers (mm), got {spacing_xyz_mm}"
            )
        spacing = tuple(float(s) for s in spacing_xyz_mm)  # type: ignore[assignment]
    offsets = (rng.uniform(-10.0, 10.0), rng.uniform(-20.0, 20.0))
    origin = (
        round(-(size_xyz[0] - 1) * spacing[0] / 2.0 + offsets[0], 3),
        round(-(size_xyz[1] - 1) * spacing[1] / 2.0 + offsets[1], 3),
        round(float(rng.uniform(-600.0, -300.0)), 3),
    )
    return Grid(size_xyz=tuple(int(s) for s in size_xyz), spacing_xyz_mm=spacing, origin_xyz_mm=origin)  # type: ignore[arg-type]


def _resolve_mix(
    texture_fraction: float | None, lesion_mix: LesionMix | Mapping[str, float] | None
) -> LesionMix:
    if texture_fraction is not None and lesion_mix is not None:
        raise InvalidInputError("give the lesion mix or the texture fraction, not both")
    if texture_fraction is not None:
        return LesionMix.from_texture_fraction(texture_fraction)
    if lesion_mix is None:
        return LesionMix()
    return lesion_mix if isinstance(lesion_mix, LesionMix) else LesionMix.from_mapping(lesion_mix)


def _resolve_kind(positive: bool, lesion_kind: str | None) -> str | None:
    if positive:
        if lesion_kind is not None and lesion_kind not in LESION_KINDS:
            raise InvalidInputError(f"lesion_kind must be one of {LESION_KINDS} or None, got {lesion_kind!r}")
        return lesion_kind
    if lesion_kind not in (None, "none"):
        raise InvalidInputError(f"a negative case has no lesion; got lesion_kind={lesion_kind!r}")
    return None


def _check_size(size_xyz: Sequence[int]) -> None:
    if len(size_xyz) != 3 or not all(isinstance(s, int | np.integer) and s >= _MIN_SIZE for s in size_xyz):
        raise InvalidInputError(
            f"size must be three integers X,Y,Z of at least {_MIN_SIZE} voxels each, got {tuple(size_xyz)}"
        )


def _check_range(name: str, rng_mm: Sequence[float], upper: float = 10.0) -> None:
    if len(rng_mm) != 2 or not (0.0 < rng_mm[0] <= rng_mm[1] <= upper):
        raise InvalidInputError(
            f"{name} must be MIN,MAX in mm with 0 < MIN <= MAX <= {upper:g}, got {tuple(rng_mm)}"
        )


def _check_cohort_args(
    n: int,
    positive_fraction: float,
    size_xyz: Sequence[int],
    inplane_spacing_mm: Sequence[float],
    slice_spacing_mm: Sequence[float],
) -> None:
    if not 1 <= n <= _MAX_CASES - 1:
        raise InvalidInputError(f"the number of cases must be between 1 and {_MAX_CASES - 1}, got {n}")
    if not 0.0 <= positive_fraction <= 1.0:
        raise InvalidInputError(f"the positive fraction must be in [0, 1], got {positive_fraction}")
    _check_size(size_xyz)
    _check_range("in-plane spacing", inplane_spacing_mm)
    _check_range("slice spacing", slice_spacing_mm)
