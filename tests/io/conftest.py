from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def real_ct() -> sitk.Image:
    """Real abdominal CT (122×101×30 at 3 mm, LPS direction diag(-1, -1, 1))."""
    return sitk.ReadImage(str(DATA / "ts_native_abdomen_ct.nii.gz"))


def ct_like(size=(32, 32, 20), dtype=np.int16, value_range=(-1000, 400), seed=0) -> sitk.Image:
    """A small random CT-like volume (x, y, z size)."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(value_range[0], value_range[1], size=size[::-1]).astype(dtype)
    image = sitk.GetImageFromArray(arr)
    image.SetSpacing((0.8, 0.8, 2.5))
    return image
