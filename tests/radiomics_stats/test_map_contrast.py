"""Lesion visibility per channel: a texture-only lesion is invisible in the CT channel's values and visible in a
local-variance map; a darker lesion is visible in the CT; separation equals the voxel AUROC it is defined by."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics_stats.map_contrast import map_contrast, separation, write_map_contrast


def _write(path: Path, array: np.ndarray) -> None:
    sitk.WriteImage(sitk.GetImageFromArray(array), str(path))


def _dataset(root: Path) -> Path:
    rng = np.random.default_rng(0)
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    (root / "dataset.json").write_text(json.dumps({"channel_names": {"0": "CT", "1": "local_sd"}}))
    for case, kind in (("t1", "texture"), ("t2", "texture"), ("h1", "hypo"), ("n1", "none")):
        label = np.zeros((12, 32, 32), np.uint8)
        label[2:10, 4:28, 4:28] = 4
        ct = rng.normal(40.0, 5.0, label.shape)
        if kind != "none":
            lesion = (slice(4, 8), slice(10, 20), slice(10, 20))
            label[lesion] = 1
            if kind == "texture":  # same mean, 8× the spread
                ct[lesion] = 40.0 + (ct[lesion] - 40.0) * 8.0
            else:
                ct[lesion] -= 40.0
        local_sd = np.sqrt(
            np.maximum(ndimage.uniform_filter(ct**2, 3) - ndimage.uniform_filter(ct, 3) ** 2, 0)
        )
        _write(root / "imagesTr" / f"{case}_0000.nii.gz", ct.astype(np.float32))
        _write(root / "imagesTr" / f"{case}_0001.nii.gz", local_sd.astype(np.float32))
        _write(root / "labelsTr" / f"{case}.nii.gz", label)
    return root


def test_texture_lesions_show_in_the_map_not_the_ct(tmp_path: Path) -> None:
    table = pd.DataFrame(
        {"case": ["t1", "t2", "h1", "n1"], "lesion_kind": ["texture", "texture", "hypo", "none"]}
    )
    result = map_contrast(_dataset(tmp_path / "ds"), table.set_index("case"))
    assert sorted(result.cases["case"]) == ["h1", "t1", "t2"]  # no lesion in n1
    summary = result.summary
    assert summary.loc["texture", "n_cases"] == 2
    assert summary.loc["texture", "CT"] < 0.2 < 0.8 < summary.loc["texture", "local_sd"]
    assert summary.loc["hypo", "CT"] > 0.95
    paths = write_map_contrast(result, tmp_path / "out")
    assert all(p.is_file() for p in paths) and paths[2].read_bytes()[:4] == b"\x89PNG"


def test_separation_is_the_direction_free_auroc() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(1, 1, 50), rng.normal(0, 1, 80)
    auc = roc_auc_score(np.r_[np.ones(50), np.zeros(80)], np.r_[a, b])
    assert separation(a, b) == pytest.approx(abs(auc - 0.5) * 2) == pytest.approx(separation(b, a))


def test_a_dataset_without_lesions_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"dataset\.json"):
        map_contrast(tmp_path)
