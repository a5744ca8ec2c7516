from __future__ import annotations

from pathlib import Path

import pytest

from tests.random_model import write_random_resources


@pytest.fixture(scope="session")
def random_resources(tmp_path_factory) -> Path:
    """A small random-weights model in the packaged format (fast: 6 mm Stage 1, 3 mm Stage 2, 16×64×64 patches)."""
    return write_random_resources(
        tmp_path_factory.mktemp("container") / "resources",
        stage1_spacing_zyx=(6.0, 6.0, 6.0),
        stage2_spacing_zyx=(3.0, 3.0, 3.0),
        patch_size_zyx=(16, 64, 64),
        mirror_axes=None,
    )
