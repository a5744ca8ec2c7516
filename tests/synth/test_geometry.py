"""Geometry helpers of the phantom: exact tube distances and the blur's noise gain."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pdacrad.synth.geometry import Grid, gaussian_gain, polyline_field


def test_polyline_distance_matches_brute_force() -> None:
    grid = Grid(size_xyz=(30, 25, 12), spacing_xyz_mm=(0.8, 0.9, 2.5), origin_xyz_mm=(-10.0, 5.0, -100.0))
    points = np.array([[-5.0, 10.0, -95.0], [3.0, 14.0, -90.0], [8.0, 20.0, -80.0]])
    field = polyline_field(grid, points, margin_mm=6.0)
    assert field is not None
    z, y, x = grid.coords(field.box)
    vox = np.stack(np.broadcast_arrays(x, y, z), axis=-1).reshape(-1, 3).astype(float)
    # Brute force: distance to 802 points sampled densely along the polyline.
    t = np.linspace(0, 1, 401)[:, None]
    dense = np.vstack([points[0] + t * (points[1] - points[0]), points[1] + t * (points[2] - points[1])])
    d_ref = np.min(np.linalg.norm(vox[:, None, :] - dense[None], axis=-1), axis=1).reshape(
        field.dist_mm.shape
    )
    near = d_ref <= 6.0
    assert near.sum() > 100
    np.testing.assert_allclose(field.dist_mm[near], d_ref[near], atol=0.02)
    assert np.all((field.t >= 0) & (field.t <= 1))
    # t grows from the first point to the last.
    first = np.unravel_index(np.argmin(np.linalg.norm(vox - points[0], axis=1)), field.dist_mm.shape)
    last = np.unravel_index(np.argmin(np.linalg.norm(vox - points[2], axis=1)), field.dist_mm.shape)
    assert field.t[first] < 0.1 and field.t[last] > 0.9


def test_gaussian_gain_is_the_noise_std_after_filtering() -> None:
    sigma = (0.35, 0.7, 0.6)
    white = np.random.default_rng(0).standard_normal((40, 80, 80))
    measured = ndimage.gaussian_filter(white, sigma, mode="wrap").std()
    assert abs(measured - gaussian_gain(sigma)) < 0.01
