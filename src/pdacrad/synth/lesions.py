"""PDAC-like lesions (label 1) inside the phantom's pancreas.

Three kinds:

* ``"hypo"`` — attenuation only: 30–60 HU below the parenchyma, with a faint texture of its own (6 HU, 1.5 mm
  correlation; the parenchyma has 5 HU at 1 mm) far below the scanner's 10–40 HU noise, so that inside the lesion
  its texture statistics match the surrounding pancreas (the common PDAC look);
* ``"texture"`` — the *same mean HU* as the parenchyma (the texture has exactly zero mean over the lesion's
  voxels before noise) but a different texture: either coarse, ~2 mm-correlated granularity or fine
  voxel-level heterogeneity, 35–55 HU standard deviation. Only texture (parametric maps) can find these;
* ``"both"`` — the texture of ``"texture"`` on the mean of ``"hypo"`` (30–60 HU below the parenchyma).

Shapes are irregular blobs (a rotated ellipsoid whose surface is perturbed by a smooth random field), 5–35 mm
in diameter by default (log-uniform over the range given), centred in the pancreas (head-weighted, as PDAC is),
allowed to bulge ≤ 3 mm beyond the pancreas contour but never into vessels or the bile duct, and always touching
the pancreas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from pdacrad.synth.anatomy import DUCT, PANCREAS, PDAC, Phantom
from pdacrad.synth.geometry import Grid, Slices, gaussian_gain, smooth_noise
from pdacrad.synth.noise import psf_sigma_vox

LESION_KINDS = ("hypo", "texture", "both")
#: The kinds a case draws when none is given (the two kinds that existed before ``"both"``; keeps old seeds' bytes).
DRAWN_KINDS = ("hypo", "texture")
#: Default range of the nominal lesion diameter (mm), drawn log-uniformly.
DEFAULT_DIAMETER_MM = (5.0, 35.0)
_BULGE_MM = 3.0
_MIN_VOXELS = 8
_SHELL_MM = 5.0  # "surrounding pancreas" of a lesion: pancreas voxels within this distance (mm)


@dataclass(frozen=True)
class LesionInfo:
    """What was painted: kind, nominal diameter (mm), centre (x, y, z) in mm, and label-1 voxel count."""

    kind: str
    diameter_mm: float
    centre_xyz_mm: tuple[float, float, float]
    voxels: int


def add_lesion(
    ph: Phantom,
    kind: str,
    rng: np.random.Generator,
    max_tries: int = 30,
    diameter_mm: tuple[float, float] = DEFAULT_DIAMETER_MM,
    size_quantile: float | None = None,
) -> LesionInfo:
    """Paint one lesion of ``kind`` ("hypo" | "texture" | "both") into ``ph`` (HU and label 1); returns what was
    painted. The nominal diameter (mm) is log-uniform over ``diameter_mm`` (MIN, MAX): drawn, or at quantile
    ``size_quantile`` in [0, 1) of that distribution when given (the draw is still made, so everything else about
    the lesion stays as without it).

    A draw whose blob ends up with fewer than a handful of voxels in the pancreas (e.g. a 5 mm blob that fell
    on the bile duct) is redrawn from the same generator, so the result stays deterministic.
    """
    if kind not in LESION_KINDS:
        raise ValueError(f"lesion kind must be one of {LESION_KINDS}, got {kind!r}")
    if ph.pancreas is None:
        raise ValueError("the phantom has no pancreas to place a lesion in")
    for _ in range(max_tries):
        centre, diameter = _draw_centre_and_size(ph, rng, diameter_mm, size_quantile)
        found = _blob(ph, centre, diameter, rng)
        if found is None:
            continue
        box, mask = found
        n = int(mask.sum())
        if n < _MIN_VOXELS:
            continue
        ph.paint(box, mask, _lesion_hu(ph, box, mask, kind, rng), PDAC)
        return LesionInfo(kind, float(diameter), tuple(float(c) for c in centre), n)  # type: ignore[arg-type]
    raise RuntimeError(f"could not place a lesion in the pancreas after {max_tries} draws")


def _draw_centre_and_size(
    ph: Phantom, rng: np.random.Generator, diameter_mm: tuple[float, float], size_quantile: float | None
) -> tuple[np.ndarray, float]:
    assert ph.pancreas is not None
    pts, radius = ph.pancreas.centreline_xyz_mm, ph.pancreas.radius_mm
    k = len(pts)
    # About 60 % of PDAC arise in the head: the first third of the head→tail centreline.
    i = int(rng.integers(0, k // 3)) if rng.random() < 0.6 else int(rng.integers(0, k))
    offset = rng.normal(size=3)
    offset *= rng.uniform(0.0, 0.4) * radius[i] / max(float(np.linalg.norm(offset)), 1e-9)
    lo, hi = np.log(diameter_mm[0]), np.log(diameter_mm[1])
    log_d = rng.uniform(lo, hi)
    if size_quantile is not None:
        log_d = lo + size_quantile * (hi - lo)
    return pts[i] + offset, float(np.exp(log_d))


def _blob(
    ph: Phantom, centre: np.ndarray, diameter: float, rng: np.random.Generator
) -> tuple[Slices, np.ndarray] | None:
    """Irregular blob ∩ (pancreas dilated by ≤ 3 mm, minus other labels), components touching the pancreas."""
    g = ph.grid
    semi = 0.5 * diameter * np.array([1.0, rng.uniform(0.7, 1.1), rng.uniform(0.65, 1.0)])
    reach = 0.5 * diameter * 1.5 + _BULGE_MM
    box = g.box(centre - reach, centre + reach)
    if box is None:
        return None
    z, y, x = g.coords(box)
    rot = (
        Rotation.from_euler("zx", [rng.uniform(0, np.pi), rng.uniform(-0.3, 0.3)])
        .as_matrix()
        .astype(np.float32)
    )
    rel = (x - np.float32(centre[0]), y - np.float32(centre[1]), z - np.float32(centre[2]))
    # Coordinates in the blob's own frame: local_j = sum_i rel_i * R[i, j].
    r2 = sum(
        ((rel[0] * rot[0, j] + rel[1] * rot[1, j] + rel[2] * rot[2, j]) / np.float32(semi[j])) ** 2
        for j in range(3)
    )
    sx, sy, sz = g.spacing_xyz_mm
    sig_mm = max(diameter / 6.0, 1.0)
    shape = tuple(s.stop - s.start for s in box)
    wobble = np.clip(smooth_noise(shape, (sig_mm / sz, sig_mm / sy, sig_mm / sx), rng), -2.5, 2.5)
    inside = np.sqrt(r2) + 0.22 * wobble < 1.0

    labels = ph.labels[box]
    pancreas = (labels == PANCREAS) | (labels == DUCT)
    near = ndimage.distance_transform_edt(~pancreas, sampling=(sz, sy, sx)) <= _BULGE_MM
    allowed = (pancreas | (near & (labels == 0))) & inside
    comps, n = ndimage.label(allowed)
    if n == 0:
        return None
    touching = np.unique(comps[ndimage.binary_dilation(pancreas & allowed) & (comps > 0)])
    return box, np.isin(comps, touching[touching > 0])


def _lesion_hu(ph: Phantom, box: Slices, mask: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """HU values over ``box`` for the lesion voxels in ``mask`` (other voxels are not used)."""
    assert ph.pancreas is not None
    g, p_hu = ph.grid, ph.pancreas.hu
    sx, sy, sz = g.spacing_xyz_mm
    shape = mask.shape
    if kind == "hypo":
        drop = rng.uniform(30.0, 60.0)
        return (p_hu - drop + 6.0 * smooth_noise(shape, (1.5 / sz, 1.5 / sy, 1.5 / sx), rng)).astype(
            np.float32
        )
    if kind == "both":
        return _texture_hu(g, mask, p_hu - rng.uniform(30.0, 60.0), rng)
    return _texture_hu(g, mask, p_hu, rng)


def _texture_hu(g: Grid, mask: np.ndarray, mean_hu: float, rng: np.random.Generator) -> np.ndarray:
    """``mean_hu`` plus a texture of 35–55 HU standard deviation with exactly zero mean over ``mask``'s voxels
    (coarse ~2 mm grain or fine voxel-level heterogeneity, 50/50)."""
    sx, sy, sz = g.spacing_xyz_mm
    shape = mask.shape
    amplitude = rng.uniform(35.0, 55.0)
    if rng.random() < 0.5:
        grain = rng.uniform(1.5, 2.5)  # coarse, correlated granularity (mm)
        field = smooth_noise(shape, (grain / sz, grain / sy, grain / sx), rng)
    else:
        # Fine, voxel-level heterogeneity; the scanner's blur would remove most of it, so it is pre-amplified
        # by the blur's noise gain to keep the intended standard deviation in the final image.
        field = rng.standard_normal(shape, dtype=np.float32)
        amplitude /= gaussian_gain(psf_sigma_vox(g))
    vals = field[mask]
    # Zero mean and the intended spread over exactly the lesion's voxels, so its mean HU equals the parenchyma's.
    field = (field - vals.mean()) / max(float(vals.std()), 1e-6)
    return (mean_hu + amplitude * field).astype(np.float32)


def match_texture_mean(
    ct: np.ndarray, labels: np.ndarray, spacing_xyz_mm: tuple[float, float, float]
) -> float:
    """Shift the lesion voxels (label 1) of the final int16 image ``ct`` (z, y, x) in place so that their mean
    HU equals that of the pancreas (label 4) within 5 mm of the lesion; returns the shift (HU).

    A texture-only lesion's texture is built with zero mean, but scanner blur at its border and noise over a
    few hundred voxels still move the measured mean by a few HU; this whole-HU correction (invisible under
    10–20 HU noise) makes "same mean HU" hold in the image a model sees, whatever the lesion's size.
    """
    lesion = labels == PDAC
    if not lesion.any():
        return 0.0
    sx, sy, sz = spacing_xyz_mm
    idx = np.nonzero(lesion)
    pad = (
        int(np.ceil(_SHELL_MM / sz)) + 1,
        int(np.ceil(_SHELL_MM / sy)) + 1,
        int(np.ceil(_SHELL_MM / sx)) + 1,
    )
    box = tuple(
        slice(max(int(i.min()) - p, 0), min(int(i.max()) + p + 1, n))
        for i, p, n in zip(idx, pad, labels.shape, strict=True)
    )
    les = lesion[box]
    shell = (labels[box] == PANCREAS) & (
        ndimage.distance_transform_edt(~les, sampling=(sz, sy, sx)) <= _SHELL_MM
    )
    if not shell.any():
        return 0.0
    sub = ct[box]
    shift = float(np.rint(sub[shell].mean() - sub[les].mean()))
    sub[les] = np.clip(sub[les].astype(np.int32) + int(shift), -1024, 3071).astype(ct.dtype)
    return shift
