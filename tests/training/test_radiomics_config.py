"""The radiomics side files: the shipped ones load, typos fail."""

from __future__ import annotations

from pathlib import Path

import pytest
from pdacrad_train.config import load_config
from pdacrad_train.radiomics_config import (
    MapParamsConfig,
    SelectionConfig,
    load_radiomics_config,
)

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"


def test_radiomics_side_files_load_and_typos_fail(tmp_path: Path) -> None:
    from pdacrad_train.radiomics_config import PAPER_GLOBAL_PARAMS, load_params

    from pdacrad.errors import InvalidInputError

    demo = load_radiomics_config(load_config(CONFIGS / "synthetic-demo.yaml"))
    assert demo.params_path == CONFIGS / "params" / "demo_global.yaml" and demo.maps == MapParamsConfig()
    assert "LoG" in load_params(demo.params_path)["imageType"]
    paper = load_radiomics_config(
        load_config(CONFIGS / "panorama.yaml")
    )  # its side file spells out the paper's recipe (the defaults)
    assert paper.params_path == PAPER_GLOBAL_PARAMS and PAPER_GLOBAL_PARAMS.is_file()
    assert paper.selection == SelectionConfig() and paper.selection.n_features == 10
    assert paper.selection.mode == "per-fold" and paper.maps.mask_dilation_mm == 5.0
    radiomics_demo = load_radiomics_config(load_config(CONFIGS / "synthetic-demo-radiomics.yaml"))
    assert radiomics_demo.selection.mode == "pooled" and radiomics_demo.maps.kernel_radius == 1
    bad = tmp_path / "r.yaml"
    bad.write_text("selection:\n  n_feature: 5\n")
    with pytest.raises(InvalidInputError, match=r"selection: unknown key\(s\) n_feature"):
        load_radiomics_config(load_config(CONFIGS / "synthetic-demo.yaml"), bad)
    bad.write_text("selection:\n  cv_folds: 1\n")
    with pytest.raises(InvalidInputError, match="cv_folds ≥ 2"):
        load_radiomics_config(load_config(CONFIGS / "synthetic-demo.yaml"), bad)
