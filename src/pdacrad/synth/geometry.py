"""Voxel grid, millimetre coordinates and tube distances for the synthetic phantoms.

Conventions: physical coordinates are ITK/LPS millimetres (x → patient left, y → posterior, z → superior);
numpy arrays are indexed (z, y, x) as SimpleITK returns them; the direction matrix is the identity, so the
world position of voxel (k, j, i) is ``origin + (i, j, k) * spacing``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

Slices = tuple[slice, slice, slice]


@dataclass(frozen=True)
class Grid:
    """An axis-aligned voxel grid: size and spacing in (x, y, z) order as ITK writes them, origin in mm."""

    size_xyz: tuple[int, int, int]
    spacing_xyz_mm: tuple[float, float, float]
    origin_xyz_mm: tuple[float, float, float]

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        """The numpy array shape (z, y, x)."""
        return (self.size_xyz[2], self.size_xyz[1], self.size_xyz[0])

    @property
    def fov_xyz_mm(self) -> tuple[float, float, float]:
        """Field of view (mm) along x, y, z: voxel count × spacing."""
        return tuple(n * s for n, s in zip(self.size_xyz, self.spacing_xyz_mm, strict=True))  # type: ignore[return-value]

    @property
    def centre_xyz_mm(self) -> np.ndarray:
        """World position (mm) of the middle of the field of view."""
        o, s, n = (
            np.asarray(v, dtype=float) for v in (self.origin_xyz_mm, self.spacing_xyz_mm, self.size_xyz)
        )
        return o + s * (n - 1) / 2.0

    def box(self, lo_xyz_mm: np.ndarray, hi_xyz_mm: np.ndarray) -> Slices | None:
        """Index slices (z, y, x) of the voxels whose centres lie in [lo, hi] (mm); None if that is empty."""
        o = np.asarray(self.origin_xyz_mm, dtype=float)
        s = np.asarray(self.spacing_xyz_mm, dtype=float)
        lo = np.maximum(np.ceil((np.asarray(lo_xyz_mm) - o) / s), 0).astype(int)
        hi = np.minimum(np.floor((np.asarray(hi_xyz_mm) - o) / s) + 1, self.size_xyz).astype(int)
        if np.any(hi <= lo):
            return None
        return (slice(lo[2], hi[2]), slice(lo[1], hi[1]), slice(lo[0], hi[0]))

    def coords(self, box: Slices | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Open-grid world coordinates (mm) of ``box`` (whole grid if None): z (nz,1,1), y (1,ny,1), x (1,1,nx)."""
        box = box or (slice(0, self.shape_zyx[0]), slice(0, self.shape_zyx[1]), slice(0, self.shape_zyx[2]))
        axes = []
        for axis_xyz, sl in zip((2, 1, 0), box, strict=True):
            idx = np.arange(sl.start, sl.stop, dtype=np.float32)
            axes.append(
                np.float32(self.origin_xyz_mm[axis_xyz]) + idx * np.float32(self.spacing_xyz_mm[axis_xyz])
            )
        z, y, x = axes
        return z[:, None, None], y[None, :, None], x[None, None, :]


@dataclass(frozen=True)
class TubeField:
    """Distance (mm) from each voxel of ``box`` to a polyline, and the normalised arc length ``t`` in [0, 1]
    of the nearest polyline point. Voxels farther than the margin it was built with hold ``inf``."""

    box: Slices
    dist_mm: np.ndarray
    t: np.ndarray

    def mask(self, radius_mm: float | np.ndarray) -> np.ndarray:
        """Boolean (z, y, x) array over ``box``: voxels within ``radius_mm`` (scalar or array like ``t``)."""
        return self.dist_mm <= radius_mm


def polyline_field(grid: Grid, points_xyz_mm: np.ndarray, margin_mm: float) -> TubeField | None:
    """Exact point-to-polyline distance (mm) for voxels within ``margin_mm`` of the polyline.

    Each segment only visits its own padded bounding box, so the cost scales with the tube's volume, not the
    grid's. Returns None when the polyline's padded box misses the grid.
    """
    p = np.asarray(points_xyz_mm, dtype=np.float64)
    box = grid.box(p.min(axis=0) - margin_mm, p.max(axis=0) + margin_mm)
    if box is None:
        return None
    shape = tuple(sl.stop - sl.start for sl in box)
    best = np.full(shape, np.inf, dtype=np.float32)
    t_best = np.zeros(shape, dtype=np.float32)
    seg_len = np.linalg.norm(np.diff(p, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg_len)]) / max(seg_len.sum(), 1e-9)
    for k in range(len(p) - 1):
        a, b = p[k], p[k + 1]
        sub = grid.box(np.minimum(a, b) - margin_mm, np.maximum(a, b) + margin_mm)
        if sub is None:
            continue
        z, y, x = grid.coords(sub)
        ab = (b - a).astype(np.float32)
        ab2 = max(float(ab @ ab), 1e-12)
        dx, dy, dz = x - np.float32(a[0]), y - np.float32(a[1]), z - np.float32(a[2])
        u = np.clip((dx * ab[0] + dy * ab[1] + dz * ab[2]) / np.float32(ab2), 0.0, 1.0)
        d = np.sqrt((dx - u * ab[0]) ** 2 + (dy - u * ab[1]) ** 2 + (dz - u * ab[2]) ** 2)
        local = tuple(slice(s.start - b0.start, s.stop - b0.start) for s, b0 in zip(sub, box, strict=True))
        cur = best[local]
        closer = d < cur
        cur[closer] = d[closer]
        t_best[local][closer] = (arc[k] + u * (arc[k + 1] - arc[k])).astype(np.float32)[closer]
    return TubeField(box=box, dist_mm=best, t=t_best)


def smooth_noise(
    shape: tuple[int, ...], sigma_vox: tuple[float, ...], rng: np.random.Generator
) -> np.ndarray:
    """Gaussian-correlated random field, float32, zero mean and unit standard deviation (over the array)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma_vox, mode="wrap")
    field -= field.mean()
    sd = float(field.std())
    return field / np.float32(sd if sd > 0 else 1.0)


def gaussian_gain(sigma_vox: tuple[float, ...]) -> float:
    """Standard-deviation gain of ``scipy.ndimage.gaussian_filter`` on white noise: sqrt(sum of kernel²)."""
    half = [int(4.0 * s + 0.5) + 1 for s in sigma_vox]
    delta = np.zeros([2 * h + 1 for h in half], dtype=np.float64)
    delta[tuple(half)] = 1.0
    return float(np.sqrt((ndimage.gaussian_filter(delta, sigma_vox) ** 2).sum()))
