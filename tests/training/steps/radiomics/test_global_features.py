"""global-features: per-case cache keyed by params and mask content, resumable, NaN rows for empty masks, the
Stage-1 masks' largest component (not the labels) as the pancreas."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from pdacrad_train.masks import resolve_mask_source
from pdacrad_train.parallel import MapCompute, dask_client
from pdacrad_train.radiomics_config import RadiomicsConfig, load_params
from pdacrad_train.steps.radiomics.global_features import (
    case_jobs,
    compute_global_features,
    features_table,
    run_global_features,
)
from pdacrad_train.workspace import Workspace

from pdacrad.errors import InvalidInputError
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


#: The map settings of these tests: CPU, float64, one in-process worker thread.
IN_PROCESS = MapCompute("cpu", "float64", n_workers=1, processes=False)


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


def _params(tmp_path: Path) -> dict[str, object]:
    return load_params(tmp_path / "params.yaml")


def _gt_pancreas(cohort: Path, case: str) -> sitk.Image:
    labels = sitk.ReadImage(str(cohort / "labelsTr" / f"{case}.nii.gz"))
    return sitk.Cast(sitk.BinaryThreshold(labels, 1, 1) | sitk.BinaryThreshold(labels, 4, 5), sitk.sitkUInt8)


def test_resumable_on_a_local_cluster_with_nan_row_for_an_empty_mask(
    tmp_path: Path, cohort: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ws, rcfg = _workspace(tmp_path, cohort)
    with pytest.raises(InvalidInputError, match=r"stage1_oof is empty.*--allow-gt-masks"):
        run_global_features(ws, rcfg, IN_PROCESS)  # never silently the ground truth
    with caplog.at_level(logging.WARNING, logger="pdacrad_train"):
        table_path = run_global_features(ws, rcfg, IN_PROCESS, allow_gt_masks=True)
    assert "GROUND TRUTH" in caplog.text and "--allow-gt-masks" in caplog.text
    assert f"{EMPTY}: the pancreas of" in caplog.text and "empty" in caplog.text
    cache = table_path.parent / "global_features"
    table = features_table(CASES, cache)
    assert set(table.columns) == FEATURES
    assert table.loc[EMPTY].isna().all()
    assert np.isfinite(table.drop(index=EMPTY).to_numpy()).all()
    assert ws.global_features_table == table_path
    on_disk = pd.read_csv(table_path, index_col="case", dtype={"case": str})
    pd.testing.assert_frame_equal(on_disk, table, check_like=True, check_names=False)

    before = _mtimes(cache)
    assert len(before) == 4
    source = resolve_mask_source(ws, CASES, None, allow_gt_masks=True)
    jobs = case_jobs(ws, CASES, source)
    with dask_client(None, 1, processes=False) as client:
        # Second run: everything cached, nothing recomputed (files untouched).
        counts = compute_global_features(jobs, _params(tmp_path), cache, client)
        assert counts == {"cached": 4, "computed": 0, "empty": 0}
        assert _mtimes(cache) == before
        # A deleted cache file is recomputed, alone, to the same values.
        (cache / f"{CASES[1]}.json").unlink()
        counts = compute_global_features(jobs, _params(tmp_path), cache, client)
        assert counts == {"cached": 3, "computed": 1, "empty": 0}
        after = _mtimes(cache)
        assert {k for k in after if after[k] != before.get(k)} == {f"{CASES[1]}.json"}
        pd.testing.assert_frame_equal(features_table(CASES, cache), table)
        # Changed params: the stale caches are recomputed.
        counts = compute_global_features(
            jobs, {**_params(tmp_path), "setting": {"binWidth": 10}}, cache, client
        )
        assert counts["computed"] == 4


def test_new_stage1_masks_recompute_exactly_their_cases(tmp_path: Path, cohort: Path) -> None:
    """The cache is keyed by the mask files' content: a rewritten mask recomputes its case (same path)."""
    ws, _ = _workspace(tmp_path, cohort)
    cases = CASES[:3]
    ws.stage1_oof.mkdir(parents=True)
    for case in cases:
        sitk.WriteImage(_gt_pancreas(cohort, case) * 3, str(ws.stage1_oof / f"{case}.nii.gz"))
    source = resolve_mask_source(ws, cases)
    assert source.kind == "stage1_oof" and source.labels is None
    cache = tmp_path / "cache"
    with dask_client(None, 1, processes=False) as client:
        assert (
            compute_global_features(case_jobs(ws, cases, source), _params(tmp_path), cache, client)[
                "computed"
            ]
            == 3
        )
        first = features_table(cases, cache)
        # A new Stage-1 model wrote a smaller pancreas for one case: only that case is recomputed, and it changes.
        eroded = sitk.BinaryErode(_gt_pancreas(cohort, cases[2]), [2, 2, 1])
        sitk.WriteImage(eroded, str(ws.stage1_oof / f"{cases[2]}.nii.gz"))
        source = resolve_mask_source(ws, cases)
        counts = compute_global_features(case_jobs(ws, cases, source), _params(tmp_path), cache, client)
    assert counts == {"cached": 2, "computed": 1, "empty": 0}
    second = features_table(cases, cache)
    pd.testing.assert_frame_equal(second.loc[cases[:2]], first.loc[cases[:2]])
    assert (
        second.loc[cases[2], "original_firstorder_Variance"]
        != first.loc[cases[2], "original_firstorder_Variance"]
    )


def test_oof_masks_not_labels_feed_the_features_as_their_largest_component(
    tmp_path: Path, cohort: Path
) -> None:
    """Stage-1 masks that differ from the labels (half the pancreas, plus a stray blob elsewhere): the features
    are those of the mask's largest component — what inference computes — not of the ground truth."""
    from pdacrad.inference.radiomics_inputs import radiomics_pancreas
    from pdacrad.radiomics import compute_features

    ws, _ = _workspace(tmp_path, cohort)
    case = CASES[1]
    pancreas = _gt_pancreas(cohort, case)
    array = sitk.GetArrayFromImage(pancreas)
    xs = np.flatnonzero(array.any(axis=(0, 1)))
    array[:, :, xs[len(xs) // 2] :] = 0  # keep the left half of the pancreas
    array[1:3, 1:3, 1:3] = 1  # a stray blob in a corner: Stage-1 false positive
    oof = sitk.GetImageFromArray(array)
    oof.CopyInformation(pancreas)
    ws.stage1_oof.mkdir(parents=True)
    sitk.WriteImage(oof, str(ws.stage1_oof / f"{case}.nii.gz"))
    jobs = case_jobs(ws, [case], resolve_mask_source(ws, [case]))
    with dask_client(None, 1, processes=False) as client:
        compute_global_features(jobs, _params(tmp_path), tmp_path / "cache", client)
    got = features_table([case], tmp_path / "cache").loc[case]
    ct = sitk.ReadImage(str(cohort / "imagesTr" / f"{case}_0000.nii.gz"))
    expected = compute_features(ct, radiomics_pancreas(oof), _params(tmp_path))
    ground_truth = compute_features(ct, pancreas, _params(tmp_path))
    assert {k: got[k] for k in FEATURES} == {k: expected[k] for k in FEATURES}
    assert got["original_firstorder_Mean"] != ground_truth["original_firstorder_Mean"]
    record = json.loads((tmp_path / "cache" / f"{case}.json").read_text())
    assert record["pancreas_voxels"] == int(sitk.GetArrayViewFromImage(radiomics_pancreas(oof)).sum())
    assert record["pancreas_voxels"] < int(array.sum())  # the stray blob is not in it
