"""Anatomy-like abdominal phantom at the pancreas level: HU image and PANORAMA labels before lesions and noise.

In-plane positions are fractions of the body's semi-axes (so any field of view works); organ thicknesses
that decide whether Stage 1 can see the pancreas (4.5 × 4.5 × 9 mm) are in mm and not scaled down.
Painting order matters: later structures overwrite earlier ones (fat halo, then pancreas, then ducts and
vessels), which is how the labels stay mutually exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.interpolate import CubicSpline

from pdacrad.labels import Label
from pdacrad.synth.geometry import Grid, Slices, polyline_field, smooth_noise

# PANORAMA label values (SPEC.md).
BACKGROUND, PDAC, VEINS, ARTERIES, PANCREAS, DUCT, CBD = (int(label) for label in Label)
#: The main duct runs along this span of the pancreas centreline's normalised arc length (head → tail).
DUCT_T_RANGE = (0.03, 0.97)


@dataclass(frozen=True, eq=False)
class PancreasModel:
    """Where the pancreas is, for lesion placement and confounders: its centreline (K, 3) in mm (x, y, z; head at
    index 0), the radius (mm) at each centreline point, its parenchymal mean HU before noise, and the main duct's
    radius (mm) and HU."""

    centreline_xyz_mm: np.ndarray
    radius_mm: np.ndarray
    hu: float
    duct_radius_mm: float = 0.0
    duct_hu: float = 0.0


@dataclass(eq=False)
class Phantom:
    """A phantom under construction: ``hu`` float32 and ``labels`` uint8, both (z, y, x); the pancreas model and
    the common bile duct's radius (mm) and HU once painted."""

    grid: Grid
    hu: np.ndarray
    labels: np.ndarray
    pancreas: PancreasModel | None = field(default=None)
    cbd_radius_mm: float = 0.0
    cbd_hu: float = 0.0

    def paint(self, box: Slices, mask: np.ndarray, hu: float | np.ndarray, label: int | None) -> None:
        """Set HU (scalar or array shaped like ``box``) and, unless None, the label where ``mask`` is true."""
        sub_hu = self.hu[box]
        sub_hu[mask] = hu[mask] if isinstance(hu, np.ndarray) else hu
        if label is not None:
            self.labels[box][mask] = label


def _ellipse_2d(y: np.ndarray, x: np.ndarray, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0


def _ellipsoid(grid: Grid, centre_xyz: np.ndarray, semi_xyz: np.ndarray) -> tuple[Slices, np.ndarray] | None:
    box = grid.box(centre_xyz - semi_xyz, centre_xyz + semi_xyz)
    if box is None:
        return None
    z, y, x = grid.coords(box)
    r2 = sum(((c - c0) / s) ** 2 for c, c0, s in zip((x, y, z), centre_xyz, semi_xyz, strict=True))
    return box, r2 <= 1.0


def _paint_tube(ph: Phantom, points: np.ndarray, radius_mm: float, hu: float, label: int | None) -> None:
    tube = polyline_field(ph.grid, points, margin_mm=radius_mm + 1.0)
    if tube is not None:
        ph.paint(tube.box, tube.mask(radius_mm), hu, label)


@dataclass(frozen=True)
class _Body:
    """Body frame in mm: centre (x, y), semi-axes A (left-right) and B (antero-posterior), mid-slab z."""

    cx: float
    cy: float
    a: float
    b: float
    zc: float
    z_fov: float


def _body_wall_and_spine(ph: Phantom, rng: np.random.Generator) -> _Body:
    """Air, subcutaneous fat, muscle wall, visceral fat, paraspinal muscles and a vertebra (2D, all slices)."""
    g = ph.grid
    fov = g.fov_xyz_mm
    c = g.centre_xyz_mm
    body = _Body(
        cx=float(c[0] + rng.uniform(-0.03, 0.03) * fov[0]),
        cy=float(c[1] + rng.uniform(-0.02, 0.04) * fov[1]),
        a=float(0.45 * fov[0] * rng.uniform(0.92, 1.0)),
        b=float(0.37 * fov[1] * rng.uniform(0.9, 1.0)),
        zc=float(c[2] + rng.uniform(-0.05, 0.05) * fov[2]),
        z_fov=float(fov[2]),
    )
    _, y, x = g.coords()
    y2, x2 = y[0], x[0]
    fat_mm, muscle_mm = body.a * rng.uniform(0.06, 0.10), body.a * rng.uniform(0.04, 0.06)
    layers = [
        (0.0, rng.uniform(-110, -90)),  # subcutaneous fat
        (fat_mm, rng.uniform(40, 60)),  # abdominal wall muscle
        (fat_mm + muscle_mm, rng.uniform(-100, -80)),  # visceral fat
    ]
    img2d = np.full(y2.shape[:1] + x2.shape[1:], -1000.0, dtype=np.float32)
    for inset, hu in layers:
        img2d[_ellipse_2d(y2, x2, body.cy, body.cx, body.b - inset, body.a - inset)] = hu
    muscle = layers[1][1]
    r_v = 0.12 * body.a
    vy = body.cy + 0.60 * body.b
    for side in (-1, 1):
        img2d[
            _ellipse_2d(
                y2, x2, vy + 0.12 * body.b, body.cx + side * 0.25 * body.a, 0.14 * body.b, 0.16 * body.a
            )
        ] = muscle
    img2d[_ellipse_2d(y2, x2, vy + 1.4 * r_v, body.cx, 0.6 * r_v, 0.8 * r_v)] = rng.uniform(450, 600)
    img2d[_ellipse_2d(y2, x2, vy + 1.15 * r_v, body.cx, 0.4 * r_v, 0.4 * r_v)] = 20.0  # spinal canal
    img2d[_ellipse_2d(y2, x2, vy, body.cx, r_v, r_v)] = rng.uniform(650, 750)  # cortex
    img2d[_ellipse_2d(y2, x2, vy, body.cx, r_v - 2.0, r_v - 2.0)] = rng.uniform(200, 300)  # trabecular bone
    ph.hu[...] = img2d[None]
    return body


def _organs(ph: Phantom, body: _Body, rng: np.random.Generator) -> None:
    """Liver, spleen, kidneys (background label) and bowel loops inside the visceral cavity."""
    g, a, b, zf = ph.grid, body.a, body.b, body.z_fov
    cavity = ph.hu < -70.0  # visceral fat only: keeps organs inside the abdominal wall
    cavity &= np.broadcast_to(_cavity_2d(g, body), cavity.shape)
    bowel = _bowel_mask(g, rng) & cavity
    ph.hu[bowel] = rng.uniform(20, 50)
    organs = [
        ((-0.48, -0.05, 0.35), (0.45, 0.62, 0.45), rng.uniform(100, 125)),  # liver
        ((0.62, 0.35, 0.30), (0.18, 0.25, 0.30), rng.uniform(110, 130)),  # spleen
        ((-0.38, 0.42, 0.0), (0.13, 0.15, 0.28), rng.uniform(150, 190)),  # right kidney
        ((0.38, 0.42, 0.05), (0.13, 0.15, 0.28), rng.uniform(150, 190)),  # left kidney
    ]
    for (u, v, w), (su, sv, sw), hu in organs:
        centre = np.array([body.cx + u * a, body.cy + v * b, body.zc + w * zf])
        semi = np.array([su * a, sv * b, max(sw * zf, 20.0)])
        found = _ellipsoid(g, centre, semi)
        if found is not None:
            box, m = found
            ph.paint(box, m & cavity[box], float(hu), None)


def _cavity_2d(g: Grid, body: _Body) -> np.ndarray:
    _, y, x = g.coords()
    return _ellipse_2d(y[0], x[0], body.cy, body.cx, 0.85 * body.b, 0.85 * body.a)


def _bowel_mask(g: Grid, rng: np.random.Generator) -> np.ndarray:
    """Blobby bowel loops: a ~10 mm-correlated random field thresholded, built at 1/4 in-plane resolution."""
    nz, ny, nx = g.shape_zyx
    coarse = (nz, max(ny // 4, 4), max(nx // 4, 4))
    sx, sy, sz = g.spacing_xyz_mm
    sigma = (10.0 / sz, 10.0 / (sy * ny / coarse[1]), 10.0 / (sx * nx / coarse[2]))
    f = smooth_noise(coarse, sigma, rng)
    fine = ndimage.zoom(
        f, (nz / coarse[0], ny / coarse[1], nx / coarse[2]), order=1, grid_mode=True, mode="nearest"
    )
    return fine[:nz, :ny, :nx] > 0.8


def _pancreas_centreline(body: _Body, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Curved head→tail centreline (40 points, mm) and the radius (mm) at each point."""
    rise = float(np.clip(0.25 * body.z_fov, 10.0, 35.0)) * rng.uniform(0.7, 1.0)
    ctrl_uv = np.array([[-0.38, 0.02], [-0.12, -0.14], [0.15, -0.12], [0.48, 0.14]])
    ctrl_uv += rng.uniform(-0.04, 0.04, size=ctrl_uv.shape)
    ctrl_z = np.array([-0.25, 0.0, 0.55, 1.0]) * rise - 0.3 * rise + body.zc
    ctrl = np.column_stack([body.cx + ctrl_uv[:, 0] * body.a, body.cy + ctrl_uv[:, 1] * body.b, ctrl_z])
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(ctrl, axis=0), axis=1))])
    pts = CubicSpline(s, ctrl, bc_type="natural")(np.linspace(0.0, s[-1], 40))
    # Head thickest, tail thinnest; ≥ 15 mm everywhere so it spans ≥ 3 voxels at 4.5 mm (Stage 1).
    r_head, r_body, r_tail = rng.uniform(10.5, 13.0), rng.uniform(8.5, 10.5), rng.uniform(7.5, 9.5)
    t = np.linspace(0.0, 1.0, len(pts))
    radius = np.interp(t, [0.0, 0.3, 0.65, 1.0], [r_head, r_body + 0.5, r_body, r_tail])
    return pts, radius


def _posterior_normal(pts: np.ndarray) -> np.ndarray:
    """Unit in-plane normals of the centreline pointing posterior (+y), one per point."""
    tang = np.gradient(pts[:, :2], axis=0)
    n = np.column_stack([-tang[:, 1], tang[:, 0]])
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    n[n[:, 1] < 0] *= -1.0
    return np.column_stack([n, np.zeros(len(n))])


def _pancreas(ph: Phantom, body: _Body, rng: np.random.Generator) -> PancreasModel:
    """Peripancreatic fat halo, lobulated parenchyma (label 4), main duct (label 5)."""
    g = ph.grid
    pts, radius = _pancreas_centreline(body, rng)
    p_hu = float(rng.uniform(90, 115))
    tube = polyline_field(g, pts, margin_mm=float(radius.max()) * 1.2 + 5.0)
    assert tube is not None, "the pancreas centreline lies inside the field of view by construction"
    r_t = np.interp(tube.t, np.linspace(0, 1, len(pts)), radius).astype(np.float32)
    sx, sy, sz = g.spacing_xyz_mm
    lobules = smooth_noise(tube.dist_mm.shape, (3.0 / sz, 3.0 / sy, 3.0 / sx), rng)
    parenchyma = tube.dist_mm <= r_t * (1.0 + 0.07 * lobules)
    head = pts[0] + np.array([0.15 * radius[0], 0.1 * radius[0], -0.6 * radius[0]])
    head_semi = radius[0] * np.array([1.05, 0.95, 1.3])
    ph.paint(tube.box, tube.dist_mm <= r_t + 4.0, float(rng.uniform(-100, -80)), BACKGROUND)
    found = _ellipsoid(g, head, head_semi + 4.0)
    if found is not None:
        ph.paint(*found, float(rng.uniform(-100, -80)), BACKGROUND)
    texture = p_hu + 5.0 * smooth_noise(tube.dist_mm.shape, (1.0 / sz, 1.0 / sy, 1.0 / sx), rng)
    ph.paint(tube.box, parenchyma, texture, PANCREAS)
    found = _ellipsoid(g, head, head_semi)
    if found is not None:
        ph.paint(*found, p_hu, PANCREAS)
    # The duct must cross slice centres, so its radius is at least about half the slice spacing — up to 3 mm
    # slices: thicker ones (the thick-slice confounder) do not widen it to a dilated-looking 4–5.5 mm; there it
    # may be cut into pieces along z, as a thin duct is on real thick slices.
    r_duct = max(rng.uniform(1.2, 2.0), 0.55 * min(sz, 3.0))
    duct = tube.mask(r_duct) & (tube.t > DUCT_T_RANGE[0]) & (tube.t < DUCT_T_RANGE[1])
    duct_hu = float(rng.uniform(10, 20))
    ph.paint(tube.box, duct, duct_hu, DUCT)
    return PancreasModel(
        centreline_xyz_mm=pts, radius_mm=radius, hu=p_hu, duct_radius_mm=float(r_duct), duct_hu=duct_hu
    )


def _vessels_and_cbd(ph: Phantom, body: _Body, pm: PancreasModel, rng: np.random.Generator) -> None:
    """Aorta, SMA (label 3); IVC, SMV, portal and splenic veins (label 2); common bile duct (label 6)."""
    g, a, b = ph.grid, body.a, body.b
    z_lo, z_hi = g.origin_xyz_mm[2] - 10.0, g.origin_xyz_mm[2] + body.z_fov + 10.0
    vein_hu, art_hu = float(rng.uniform(160, 180)), float(rng.uniform(200, 250))
    pts, radius = pm.centreline_xyz_mm, pm.radius_mm
    normal = _posterior_normal(pts)
    spine_front = body.cy + 0.60 * b - 0.12 * a
    r_ao, r_ivc = float(np.clip(0.075 * a, 7.0, 13.0)), float(np.clip(0.07 * a, 6.0, 12.0))
    aorta_xy = np.array([body.cx + 0.08 * a, spine_front - r_ao - 2.0])
    ivc_xy = np.array([body.cx - 0.22 * a, spine_front - 0.8 * r_ivc])
    _paint_tube(ph, _vertical(aorta_xy, z_lo, z_hi), r_ao, art_hu, ARTERIES)
    _paint_tube(ph, _vertical(ivc_xy, z_lo, z_hi), r_ivc, vein_hu, VEINS)

    neck = int(0.3 * (len(pts) - 1))
    r_smv, r_sma = rng.uniform(4.5, 6.0), rng.uniform(3.0, 4.0)
    conf = pts[neck] + normal[neck] * (radius[neck] + r_smv + 2.0)
    _paint_tube(ph, np.array([[conf[0], conf[1], z_lo], conf]), r_smv, vein_hu, VEINS)
    sma_xy = conf[:2] + np.array([r_smv + r_sma + 3.0, 3.0])
    sma = np.array([[*sma_xy, z_lo], [*sma_xy, conf[2] + 5.0], [*aorta_xy, conf[2] + 20.0]])
    _paint_tube(ph, sma, r_sma, art_hu, ARTERIES)
    hilum = conf + np.array([-0.28 * a, 0.05 * b, 0.3 * body.z_fov])
    _paint_tube(ph, np.array([conf, hilum]), rng.uniform(5.5, 7.0), vein_hu, VEINS)
    r_sv = rng.uniform(3.5, 4.5)
    splenic = pts[neck:-1] + normal[neck:-1] * (radius[neck:-1, None] + r_sv + 1.5)
    _paint_tube(ph, np.vstack([conf, splenic]), r_sv, vein_hu, VEINS)

    ph.cbd_radius_mm, ph.cbd_hu = float(rng.uniform(3.0, 4.5)), float(rng.uniform(5, 20))
    _paint_tube(ph, cbd_centreline(pm), ph.cbd_radius_mm, ph.cbd_hu, CBD)


def cbd_centreline(pm: PancreasModel) -> np.ndarray:
    """The common bile duct's path (3, 3) in mm (x, y, z): from 40 mm above the pancreatic head down behind it
    into the head's posterior part (its intrapancreatic segment ends 4 mm below the head's centreline start)."""
    head, r = pm.centreline_xyz_mm[0], float(pm.radius_mm[0])
    return np.array(
        [
            head + np.array([-0.3 * r, 0.5 * r, 40.0]),
            head + np.array([-0.2 * r, 0.45 * r, 10.0]),
            head + np.array([-0.1 * r, 0.35 * r, -4.0]),
        ]
    )


def _vertical(xy: np.ndarray, z_lo: float, z_hi: float) -> np.ndarray:
    return np.array([[xy[0], xy[1], z_lo], [xy[0], xy[1], z_hi]])


def build_phantom(grid: Grid, rng: np.random.Generator) -> Phantom:
    """A noise-free anatomy-like phantom on ``grid``: HU (float32) and labels 0, 2–6 (uint8), (z, y, x)."""
    ph = Phantom(
        grid=grid,
        hu=np.full(grid.shape_zyx, -1000.0, dtype=np.float32),
        labels=np.zeros(grid.shape_zyx, dtype=np.uint8),
    )
    body = _body_wall_and_spine(ph, rng)
    _organs(ph, body, rng)
    ph.pancreas = _pancreas(ph, body, rng)
    _vessels_and_cbd(ph, body, ph.pancreas, rng)
    return ph


__all__ = [
    "BACKGROUND",
    "CBD",
    "DUCT",
    "PANCREAS",
    "PDAC",
    "VEINS",
    "PancreasModel",
    "Phantom",
    "build_phantom",
    "cbd_centreline",
]
