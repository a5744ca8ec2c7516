"""Scanner effects: partial-volume blur and spatially correlated CT noise, then HU quantisation to int16."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pdacrad.synth.geometry import Grid, gaussian_gain

HU_MIN, HU_MAX = -1024, 3071
_PSF_INPLANE_MM = 0.5  # in-plane point-spread σ (mm): a standard soft-tissue reconstruction kernel
_PSF_SLICE_VOX = 0.35  # through-plane σ in slices: slice-sensitivity profile of a contiguous reconstruction


def psf_sigma_vox(grid: Grid) -> tuple[float, float, float]:
    """Gaussian σ (voxels, z, y, x) of the scanner's point-spread function on ``grid``."""
    sx, sy, _ = grid.spacing_xyz_mm
    return (_PSF_SLICE_VOX, _PSF_INPLANE_MM / sy, _PSF_INPLANE_MM / sx)


def scan(hu: np.ndarray, grid: Grid, noise_sd_hu: float, rng: np.random.Generator) -> np.ndarray:
    """Blur ``hu`` (float32, z, y, x) by the scanner's PSF, add noise of standard deviation ``noise_sd_hu`` (HU)
    correlated by the same PSF, and return rounded int16 HU clipped to [-1024, 3071].

    White noise is added *before* the blur, scaled so that after it its standard deviation is
    ``noise_sd_hu``: one filter pass gives both partial-volume edges and in-plane correlated noise.
    """
    sigma = psf_sigma_vox(grid)
    white_sd = noise_sd_hu / gaussian_gain(sigma)
    noisy = hu + np.float32(white_sd) * rng.standard_normal(hu.shape, dtype=np.float32)
    out = ndimage.gaussian_filter(noisy, sigma, mode="nearest")
    return np.clip(np.rint(out), HU_MIN, HU_MAX).astype(np.int16)
