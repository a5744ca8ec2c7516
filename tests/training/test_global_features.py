"""global-features: per-case cache on a Dask LocalCluster, resumable, NaN rows for empty masks, mask sources."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from pdacrad_train.global_features import (
    CaseJob,
    case_jobs,
    compute_global_features,
    dask_client,
    features_table,
    features_table_path,
    run_global_features,
)
from pdacrad_train.radiomics_config import RadiomicsConfig
from pdacrad_train.workspace import Workspace

from pdacrad.labels import PANCREAS_LABELS
from pdacrad.synth import generate_cohort

# Small and quick: original image, a few first-order and GLCM features.
PARAMS_YAML = """\
setting:
  binWidth: 25
imageType:
  Original: {}
featureClass:
  firstorder: [Mean, Variance]
  glcm: [Idmn, JointEntropy]
pdacrad:
  intensityWindow: [-160, 240]
"""
CASES = ["900000_00001", "900001_00001", "900002_00001", "900099_00001"]
EMPTY = CASES[3]
FEATURES = {
    "original_firstorder_Mean",
    "original_firstorder_Variance",
    "original_glcm_Idmn",
    "original_glcm_JointEntropy",
}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gf") / "cohort"
    table = generate_cohort(root, 3, seed=3, size_xyz=(48, 48, 32), progress=False)
    assert list(table["case"]) == CASES[:3]
    # A fourth case: the CT of the first with an empty mask.
    labels = sitk.ReadImage(str(root / "labelsTr" / f"{CASES[0]}.nii.gz"))
    empty = sitk.Image(labels.GetSize(), labels.GetPixelID())
    empty.CopyInformation(labels)
    sitk.WriteImage(empty, str(root / "labelsTr" / f"{EMPTY}.nii.gz"))
    (root / "imagesTr" / f"{EMPTY}_0000.nii.gz").symlink_to(root / "imagesTr" / f"{CASES[0]}_0000.nii.gz")
    with (root / "cases.csv").open("a") as csv:
        csv.write(f"{EMPTY},0,0,none\n")
    return root


def _workspace(tmp_path: Path, cohort: Path) -> tuple[Workspace, RadiomicsConfig]:
    (tmp_path / "params.yaml").write_text(PARAMS_YAML)
    ws = Workspace(tmp_path / "work", cohort, *(tmp_path / n for n in ("raw", "pre", "res")))
    (tmp_path / "masks").mkdir(exist_ok=True)
    return ws, RadiomicsConfig(params=str(tmp_path / "params.yaml"), n_workers=2)


def _mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.glob("*.json"))}


def test_resumable_on_a_local_cluster_with_nan_row_for_an_empty_mask(
    tmp_path: Path, cohort: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ws, rcfg = _workspace(tmp_path, cohort)
    with caplog.at_level(logging.WARNING, logger="pdacrad_train"):
        table_path = run_global_features(ws, rcfg, processes=False)
    assert "GROUND-TRUTH pancreas" in caplog.text
    assert f"{EMPTY}: the pancreas mask" in caplog.text and "empty" in caplog.text
    table = features_table(
        CASES,
        table_path.parent / "global_features",
    )
    assert set(table.columns) == FEATURES
    assert table.loc[EMPTY].isna().all()
    assert np.isfinite(table.drop(index=EMPTY).to_numpy()).all()
    written = features_table_path(ws)
    assert written == table_path
    import pandas as pd

    on_disk = pd.read_csv(written, index_col="case", dtype={"case": str})
    pd.testing.assert_frame_equal(on_disk, table, check_like=True, check_names=False)

    cache = table_path.parent / "global_features"
    before = _mtimes(cache)
    assert len(before) == 4
    jobs, source = case_jobs(ws, list(table.index), None)
    with dask_client(None, 1, processes=False) as client:
        # Second run: everything cached, nothing recomputed (files untouched).
        counts = compute_global_features(jobs, _params(tmp_path), source, cache, client)
        assert counts == {"cached": 4, "computed": 0, "empty": 0}
        assert _mtimes(cache) == before
        # A deleted cache file is recomputed, alone, to the same values.
        (cache / f"{CASES[1]}.json").unlink()
        counts = compute_global_features(jobs, _params(tmp_path), source, cache, client)
        assert counts == {"cached": 3, "computed": 1, "empty": 0}
        after = _mtimes(cache)
        assert {k for k in after if after[k] != before.get(k)} == {f"{CASES[1]}.json"}
        pd.testing.assert_frame_equal(features_table(list(table.index), cache), table)
        # Changed params: the stale caches are recomputed.
        counts = compute_global_features(
            jobs, {**_params(tmp_path), "setting": {"binWidth": 10}}, source, cache, client
        )
        assert counts["computed"] == 4


def _params(tmp_path: Path) -> dict[str, object]:
    from pdacrad_train.global_features import load_params

    return load_params(tmp_path / "params.yaml")


def test_stage1_masks_win_over_ground_truth(tmp_path: Path, cohort: Path) -> None:
    ws, _ = _workspace(tmp_path, cohort)
    cases = CASES[:2]
    jobs, source = case_jobs(ws, cases, None)
    assert source.startswith("ground truth") and all(j.labels == PANCREAS_LABELS for j in jobs)
    oof = ws.root / "stage1_oof"
    oof.mkdir(parents=True)
    for case in cases:
        (oof / f"{case}.nii.gz").symlink_to(cohort / "labelsTr" / f"{case}.nii.gz")
    jobs, source = case_jobs(ws, cases, None)
    assert str(oof) in source and jobs[0] == CaseJob(
        cases[0], cohort / "imagesTr" / f"{cases[0]}_0000.nii.gz", oof / f"{cases[0]}.nii.gz"
    )
    from pdacrad.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=r"2 input file\(s\) missing.*900000_00001"):
        case_jobs(ws, cases, tmp_path / "masks")  # --masks wins, and it is empty here


def test_any_nonzero_stage1_voxel_is_pancreas(tmp_path: Path, cohort: Path) -> None:
    from pdacrad_train.global_features import extract_case

    case = CASES[0]
    labels = sitk.ReadImage(str(cohort / "labelsTr" / f"{case}.nii.gz"))
    binary = (
        sitk.Cast(sitk.BinaryThreshold(labels, 1, 1) | sitk.BinaryThreshold(labels, 4, 5), sitk.sitkUInt8) * 7
    )
    sitk.WriteImage(binary, str(tmp_path / f"{case}.nii.gz"))
    image = cohort / "imagesTr" / f"{case}_0000.nii.gz"
    params = _params(_workspace(tmp_path, cohort)[0].root.parent)
    extract_case(CaseJob(case, image, tmp_path / f"{case}.nii.gz"), params, "a", tmp_path / "a")
    extract_case(
        CaseJob(case, image, cohort / "labelsTr" / f"{case}.nii.gz", PANCREAS_LABELS),
        params,
        "b",
        tmp_path / "b",
    )
    a, b = (json.loads((tmp_path / k / f"{case}.json").read_text())["features"] for k in "ab")
    assert a == b and set(a) == FEATURES
