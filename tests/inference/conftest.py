"""Fixtures for the inference tests: small randomly initialised model packages (the real nnU-Net on-disk format)
and the real abdominal CT from tests/data."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import SimpleITK as sitk

from tests.random_model import write_random_resources

DATA = Path(__file__).resolve().parents[1] / "data"
# Small plans so that a case takes seconds on 2 CPU cores: Stage 1 at 6 mm, Stage 2 at 3 mm, one patch size.
SMALL = {
    "stage1_spacing_zyx": (6.0, 6.0, 6.0),
    "stage2_spacing_zyx": (3.0, 3.0, 3.0),
    "patch_size_zyx": (16, 64, 64),
    "mirror_axes": None,
}


@pytest.fixture(scope="session")
def random_resources(tmp_path_factory) -> Path:
    """A verified resources/ folder whose random Stage 1 finds a pancreas on the real CT."""
    return write_random_resources(tmp_path_factory.mktemp("resources") / "resources", **SMALL)


@pytest.fixture(scope="session")
def no_pancreas_resources(tmp_path_factory) -> Path:
    """A resources/ folder whose Stage 1 never predicts pancreas (logit bias -30)."""
    return write_random_resources(
        tmp_path_factory.mktemp("resources_nopanc") / "resources", stage1_pancreas_bias=-30.0, **SMALL
    )


@pytest.fixture(scope="session")
def real_ct() -> sitk.Image:
    """Native abdominal CT, 122×101×30 voxels (x, y, z), 3 mm, LPS direction diag(-1, -1, 1)."""
    return sitk.ReadImage(str(DATA / "ts_native_abdomen_ct.nii.gz"))


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def pdacrad_logs() -> Iterator[list[logging.LogRecord]]:
    """Records logged under the ``pdacrad`` logger (attached directly: the CLI turns off propagation)."""
    handler = _ListHandler()
    logger = logging.getLogger("pdacrad")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
