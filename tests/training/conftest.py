"""Tiny PANORAMA-layout phantoms for the training-tree tests (seconds, not minutes).

Deliberately independent of :mod:`pdacrad.synth`: these tests check the training tree's geometry and
book-keeping on cases whose every voxel we know.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk


def write_phantom(
    root: Path,
    case: str,
    size_xyz: tuple[int, int, int] = (48, 40, 16),
    spacing_xyz: tuple[float, float, float] = (2.0, 2.5, 4.0),
    lesion_radius_vox: int = 0,
    pancreas_centre_xyz: tuple[int, int, int] = (24, 20, 8),
    seed: int = 0,
) -> None:
    """One case: body (40 HU) in air, a pancreas box (label 4, 110 HU) with a duct (label 5) and, when
    ``lesion_radius_vox`` > 0, a hypo-attenuating cubic lesion (label 1, 40 HU) inside it; a vein (label 2)."""
    rng = np.random.default_rng(seed)
    nx, ny, nz = size_xyz
    ct = np.full((nz, ny, nx), -1000.0)
    label = np.zeros((nz, ny, nx), np.uint8)
    ct[:, 2:-2, 2:-2] = 40.0
    cx, cy, cz = pancreas_centre_xyz
    pz, py, px = slice(max(cz - 2, 0), cz + 3), slice(max(cy - 3, 0), cy + 4), slice(max(cx - 8, 0), cx + 9)
    label[pz, py, px] = 4
    ct[pz, py, px] = 110.0
    label[cz, cy, px] = 5
    ct[cz, cy, px] = 20.0
    if lesion_radius_vox:
        r = lesion_radius_vox
        lz, ly, lx = (
            slice(max(cz - r, 0), cz + r + 1),
            slice(max(cy - r, 0), cy + r + 1),
            slice(cx, cx + 2 * r + 1),
        )
        label[lz, ly, lx] = 1
        ct[lz, ly, lx] = 40.0
    label[:, 3:5, 3:5] = 2
    ct[:, 3:5, 3:5] = 180.0
    ct += rng.normal(0.0, 10.0, ct.shape)
    origin = (-40.0, 12.5, -100.0)
    for array, folder, name in (
        (ct.astype(np.int16), "imagesTr", f"{case}_0000.nii.gz"),
        (label, "labelsTr", f"{case}.nii.gz"),
    ):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing(spacing_xyz)
        image.SetOrigin(origin)
        (root / folder).mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(image, str(root / folder / name))


#: nnU-Net plans overrides of a tiny stage for the training-tree tests (seconds per iteration on a CPU).
TINY_STAGE = {
    "target_spacing_zyx": [4.0, 2.5, 2.0],
    "patch_size_zyx": [8, 32, 32],
    "base_features": 4,
    "max_features": 16,
    "max_stages": 3,
    "batch_size": 2,
}


@pytest.fixture(scope="session")
def phantom_writer():
    """:func:`write_phantom`, for tests that need their own cases."""
    return write_phantom


@pytest.fixture
def tiny_cohort(tmp_path: Path) -> Path:
    """Three cases: a negative, a positive, and a positive whose pancreas touches the image border."""
    root = tmp_path / "cohort"
    write_phantom(root, "case_000", seed=0)
    write_phantom(root, "case_001", lesion_radius_vox=1, seed=1)
    write_phantom(root, "case_002", lesion_radius_vox=2, pancreas_centre_xyz=(6, 20, 1), seed=2)
    return root


def informative_table(n: int = 60, n_features: int = 40, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A features table (rows ``c000``…, columns ``original_glcm_F<i>``) and labels (0/1 alternating): columns F0..F2
    shift with the label, the rest is noise."""
    rng = np.random.default_rng(seed)
    y = np.tile([0, 1], n // 2)
    X = rng.normal(size=(n, n_features))
    X[:, :3] += 1.5 * y[:, None]
    names = [f"original_glcm_F{i}" for i in range(n_features)]
    return pd.DataFrame(X, index=[f"c{i:03d}" for i in range(n)], columns=names), y
