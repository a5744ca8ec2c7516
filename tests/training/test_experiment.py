"""The whole study on a CI budget: 8 tiny phantoms, 2 folds, variants base and both (CT + maps + global vector),
smoke schedules. Every step runs, every artefact is where the next step reads it, both ablation tables exist (final
checkpoints, the default, and the PI-CAI-selected ones beside it), the selection's scores equal the scores of the
predict step's outputs for the same checkpoints, a rerun recomputes nothing, and the exported variant runs in the
container's pipeline."""

from __future__ import annotations

import io
import json
import logging
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import torch
import yaml
from pdacrad_train.cli import app
from typer.testing import CliRunner

from tests.training.conftest import TINY_STAGE

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "training" / "configs"
CASES = [f"case_{i:03d}" for i in range(8)]


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, phantom_writer):
    root = tmp_path_factory.mktemp("study")
    for i, case in enumerate(CASES):  # 4 negatives, 4 positives with lesions of 1–2 voxels radius
        phantom_writer(root / "cohort", case, lesion_radius_vox=0 if i < 4 else 1 + i % 2, seed=i)
    data = yaml.safe_load((CONFIGS / "synthetic-demo.yaml").read_text())
    data.update(cohort={"source": "folder", "path": str(root / "cohort")}, work_dir=str(root / "work"))
    data["splits"]["n_folds"] = 2
    # Stage 1 on the demo's 400 iterations (a few seconds on the tiny network): the smoke schedule's 2 iterations
    # predicted no pancreas for a whole fold now and then, which left that fold's feature selection without cases
    data["stage1"].update(TINY_STAGE, trainer="nnUNetTrainerDemo", fold=0)
    data["stage2"].update(
        TINY_STAGE, trainer="nnUNetTrainerPicaiSmoke", fold=0, margins_mm_xyz=[10.0, 5.0, 4.0]
    )
    data["experiment"] = {
        "variants": ["base", "both"],
        "plain_trainer": "nnUNetTrainerPicaiSmoke",
        "radiomics_trainer": "nnUNetTrainerRadiomicsSmoke",
        "maps_dataset_id": 960,
        "n_bootstrap": 50,
    }
    data["run"].update(torch_threads=1, device="cpu")
    data["export"] = {"variant": "both", "folds": [0], "checkpoint": "checkpoint_final.pth", "demo": True}
    (root / "tiny.yaml").write_text(yaml.safe_dump(data))
    # original firstorder + GLCM only: every selected feature has a map, so +maps exists in every fold (shape
    # features are segment-only; on box phantoms a fold may select nothing else)
    params = yaml.safe_load((CONFIGS / "params" / "demo_global.yaml").read_text())
    params.update(imageType={"Original": {}}, featureClass={"firstorder": None, "glcm": None})
    (root / "global.yaml").write_text(yaml.safe_dump(params))
    radiomics = {
        "params": str(root / "global.yaml"),
        "n_workers": 1,
        "selection": {"mode": "per-fold", "n_features": 3, "cv_folds": 2, "bootstrap": 20},
        "maps": {"kernel_radius": 1, "resampled_spacing_xyz": [2.0, 2.5, 4.0]},
    }
    (root / "tiny.radiomics.yaml").write_text(yaml.safe_dump(radiomics))
    with pytest.MonkeyPatch.context() as mp:
        # set, not deleted: MonkeyPatch restores what it set (the steps export nnU-Net's folders themselves)
        for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
            mp.setenv(name, str(root / "work" / name))
        for name in ("nnUNet_n_proc_DA", "nnUNet_def_n_proc"):
            mp.delenv(name, raising=False)
        # seeded: the chain sees the same Stage-1 masks in every run
        random.seed(0)
        np.random.seed(0)
        torch.manual_seed(0)
        output = _invoke("experiment", "--config", str(root / "tiny.yaml"))
        yield root, output


@pytest.mark.slow
def test_every_step_leaves_what_the_next_reads(study) -> None:
    root, output = study
    work = root / "work"
    provenance = json.loads((work / "stage1_oof" / "provenance.json").read_text())
    assert sorted(provenance) == CASES and {p["fold"] for p in provenance.values()} == {0, 1}
    for fold in (0, 1):
        spec = json.loads((work / "radiomics" / f"fold_{fold}" / "radiomics.json").read_text())
        assert 1 <= len(spec["global_features"]) <= 3
        dataset = f"Dataset{961 + fold}_PdacradStage2DemoMapsFold{fold}"
        channels = json.loads((work / "nnUNet_raw" / dataset / "dataset.json").read_text())["channel_names"]
        assert list(channels.values()) == ["CT", *spec["map_features"]]
        plans = json.loads((work / "nnUNet_preprocessed" / dataset / "nnUNetPlans.json").read_text())
        schemes = plans["configurations"]["3d_fullres"]["normalization_schemes"]
        # the maps reach nnU-Net scaled by the fold's map_scaler: its plans leave them as they are
        assert schemes == ["CTNormalization"] + ["NoNormalization"] * len(spec["map_features"])
        both = (
            work / "nnUNet_results" / f"Dataset{961 + fold}_PdacradStage2DemoMapsFold{fold}"
            / "nnUNetTrainerRadiomicsSmoke__nnUNetPlans__3d_fullres" / f"fold_{fold}"
        )  # fmt: skip
        fold_spec = json.loads((both / "radiomics.json").read_text())
        assert fold_spec["inputs"] == {"maps": True, "global_vector": True}
        assert fold_spec["global_features"] == spec["global_features"]
        made = json.loads((work / "nnUNet_raw" / dataset / "pdacrad_maps.json").read_text())["radiomics"]
        assert (
            fold_spec["map_scaler"] == made["map_scaler"]
            and len(made["map_scaler"]["std"]) == len(channels) - 1
        )
        assert (both / "picai_selection.json").is_file() and (both / "validation" / "summary.json").is_file()
        for variant in ("base", "both"):
            predicted = sorted(p.name for p in (work / "cv_predictions" / variant / f"fold_{fold}").iterdir())
            assert set(predicted) == {c for c, p in provenance.items() if p["fold"] == fold}
    metrics = pd.read_csv(work / "evaluation_final" / "metrics.csv")  # the default table: final checkpoints
    pooled = metrics[metrics["fold"] == "pooled"].set_index("variant")
    assert sorted(pooled.index) == ["base", "both"] and (pooled["n_cases"] == 8).all()
    assert pooled["AUROC"].between(0, 1).all() and (pooled["AUROC_low"] <= pooled["AUROC_high"]).all()
    comparisons = pd.read_csv(work / "evaluation_final" / "comparisons.csv")
    assert set(comparisons["variant"]) == {"both"} and set(comparisons["reference"]) == {"base"}
    assert "evaluation_final" in output and "report.html" in output
    beside = pd.read_csv(work / "evaluation" / "metrics.csv")  # the PI-CAI-selected checkpoints' table
    assert sorted(beside[beside["fold"] == "pooled"]["variant"]) == ["base", "both"]
    notes = json.loads((work / "evaluation" / "evaluation.json").read_text())["notes"]
    assert any("PI-CAI-selected" in n for n in notes)


@pytest.mark.slow
def test_the_cost_plan_lists_the_units_the_run_recorded(study) -> None:
    """``experiment --plan`` on the same config prices exactly the ledger units the real run finished."""
    root, _ = study
    plan = json.loads(
        _invoke("experiment", "--config", str(root / "tiny.yaml"), "--plan", "--format", "json")
    )
    planned = sorted(r["unit"] for r in plan["rows"] if r["ledger"])
    ledger = root / "work" / "experiment" / "ledger"
    ran = sorted(json.loads(p.read_text())["unit"] for p in ledger.glob("*.json"))
    assert plan["cases"] == len(CASES) and planned == ran


@pytest.mark.slow
def test_a_rerun_recomputes_nothing_that_finished(study) -> None:
    root, _ = study
    work = root / "work"
    ledger = {p.name: p.read_text() for p in (work / "experiment" / "ledger").glob("stage*.json")}
    ledger.update(
        {p.name: p.read_text() for p in (work / "experiment" / "ledger").glob("select-checkpoint*.json")}
    )
    checkpoints = {p: p.stat().st_mtime_ns for p in (work / "nnUNet_results").rglob("checkpoint_final.pth")}
    assert (
        len(ledger) >= 2 + 4 + 4 and len(checkpoints) == 2 + 4
    )  # stage1 ×2 folds, stage2 2 variants × 2 folds
    selected = {p: p.stat().st_mtime_ns for p in (work / "nnUNet_results").rglob("checkpoint_best_picai.pth")}
    assert len(selected) == 4
    _invoke(
        "experiment",
        "--config",
        str(root / "tiny.yaml"),
        "--steps",
        "stage1,stage2,select-checkpoint,predict",
    )
    names = ("stage*.json", "select-checkpoint*.json")
    assert {p.name: p.read_text() for n in names for p in (work / "experiment" / "ledger").glob(n)} == ledger
    assert {p: p.stat().st_mtime_ns for p in checkpoints} == checkpoints
    assert {p: p.stat().st_mtime_ns for p in selected} == selected
    status = _invoke("experiment", "--config", str(root / "tiny.yaml"), "--status")
    assert "stage2:both:fold1" in status and "select-checkpoint:both:fold1" in status
    assert "predict-final:base:fold0" in status


@pytest.mark.slow
def test_the_record_reproduces_the_table_without_the_work_folder(study, tmp_path: Path) -> None:
    root, _ = study
    record = tmp_path / "record"
    output = _invoke("record", "--config", str(root / "tiny.yaml"), "--out", str(record))
    assert "cv_predictions 32" in output  # 8 cases × 2 variants × (map + likelihood)
    assert sorted(p.name for p in (record / "labels").iterdir()) == [f"{c}.nii.gz" for c in CASES]
    assert (record / "stage1_oof" / "provenance.json").is_file()
    assert {p.parent.name for p in (record / "radiomics").rglob("radiomics.json")} == {"fold_0", "fold_1"}
    assert len(list((record / "stage2").rglob("picai_selection.json"))) == 4  # base, both × 2 folds
    curves = sorted(p.relative_to(record).parent for p in record.rglob("curves.csv"))
    assert [str(c) for c in curves] == [
        "stage1/fold_0", "stage1/fold_1", "stage2/base/fold_0", "stage2/base/fold_1", "stage2/both/fold_0",
        "stage2/both/fold_1",
    ]  # fmt: skip
    assert "pseudo_dice_PDAC" in pd.read_csv(record / "stage2" / "both" / "fold_0" / "curves.csv").columns
    assert "stage2:both:fold1" in (record / "ledger" / "status.txt").read_text()
    assert json.loads((record / "RECORD.json").read_text())["files"]["cv_predictions"] == 32
    tables = json.loads((record / "RECORD.json").read_text())["tables"]
    assert tables["evaluation_final"] == {
        "predictions": "cv_predictions_final",
        "checkpoint": "checkpoint_final.pth",
        "primary": True,
    }
    assert tables["evaluation"] == {
        "predictions": "cv_predictions",
        "checkpoint": "checkpoint_best_picai.pth",
        "primary": False,
    }
    args = [
        "--checkpoint",
        "picai",
        "--predictions",
        str(record / "cv_predictions"),
        "--labels",
        str(record / "labels"),
    ]
    args += ["--out", str(tmp_path / "again"), "--n-bootstrap", "50", "--work-dir", str(tmp_path / "none")]
    _invoke("evaluate", "--config", str(root / "tiny.yaml"), *args)
    columns = ["variant", "fold", "AUROC", "AP", "AUROC_low", "AUROC_high"]
    original = pd.read_csv(root / "work" / "evaluation" / "metrics.csv")[columns]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "again" / "metrics.csv")[columns], original)


def _as_recorded(score: object) -> dict[str, object]:
    """A PicaiScore or a picai_selection.json entry as the JSON records it (NaN = None, floats to 12 digits)."""
    values = score if isinstance(score, dict) else vars(score)
    keys = ("auroc", "ap", "score", "num_cases", "num_positive")
    return {k: None if values[k] is None or values[k] != values[k] else round(values[k], 12) for k in keys}


@pytest.mark.slow
def test_selection_scores_what_the_predict_step_outputs(study, tmp_path: Path) -> None:
    """Issue 21 item 5, tested equal: each candidate's score in picai_selection.json is the score of what the
    ``predict`` step writes for the same checkpoint file and cases (ROI, pancreas restriction, mirroring), and the
    selected table is the selected snapshot's predictions."""
    from pdacrad_train.checkpoint_candidates import score_predictions

    root, _ = study
    work = root / "work"
    fold0 = next((work / "nnUNet_results").glob("Dataset*Stage2*/nnUNetTrainerPicaiSmoke__*/fold_0"))
    assert {"checkpoint_best_picai.pth", "checkpoint_epoch_0001.pth", "checkpoint_final.pth"} <= {
        p.name for p in fold0.glob("checkpoint_*.pth")
    }
    log = json.loads((fold0 / "picai_selection.json").read_text())
    entries = {h["checkpoint"]: h for h in log["history"]}
    assert list(entries) == ["checkpoint_epoch_0001.pth", "checkpoint_final.pth"]
    best = log["best_checkpoint"] or "checkpoint_final.pth"
    assert (fold0 / "checkpoint_best_picai.pth").read_bytes() == (fold0 / best).read_bytes()
    final, picai = (work / name / "base" / "fold_0" for name in ("cv_predictions_final", "cv_predictions"))
    cases = sorted(p.name for p in final.iterdir())
    selected = {c: (picai / c / "likelihood.json").read_text() for c in cases}
    shutil.rmtree(final)
    shutil.rmtree(picai)
    (fold0 / "checkpoint_final.pth").rename(tmp_path / "aside.pth")
    args = ["experiment", "--config", str(root / "tiny.yaml"), "--variants", "base", "--folds", "0"]
    try:  # no fallback to another checkpoint
        failed = CliRunner().invoke(app, [*args, "--steps", "predict"])
        assert failed.exit_code != 0 and "checkpoint_final.pth" in failed.output + repr(failed.exception)
    finally:
        (tmp_path / "aside.pth").rename(fold0 / "checkpoint_final.pth")
    _invoke(*args, "--steps", "predict")  # final (the default), from the checkpoint file
    _invoke(*args, "--steps", "predict", "--checkpoint", "picai")  # checkpoint_best_picai.pth
    labels = root / "cohort" / "labelsTr"
    for folder, checkpoint in ((final, "checkpoint_final.pth"), (picai, best)):
        assert _as_recorded(score_predictions(folder, cases, labels)) == _as_recorded(entries[checkpoint])
    for case in cases:
        assert float((picai / case / "likelihood.json").read_text()) == pytest.approx(
            float(selected[case]), abs=1e-6
        )
    status = _invoke("experiment", "--config", str(root / "tiny.yaml"), "--status")
    assert (
        "predict-final:base:fold0" in status and "predict:base:fold0" in status and "evaluate-final" in status
    )
    notes = json.loads((work / "evaluation_final" / "evaluation.json").read_text())["notes"]
    assert any("final one" in n for n in notes)


@pytest.mark.slow
def test_the_exported_variant_runs_in_process_py(study, tmp_path: Path) -> None:
    root, _ = study
    _invoke("export", "--config", str(root / "tiny.yaml"), "--out", str(root / "resources"))
    spec = json.loads((root / "resources" / "radiomics.json").read_text())
    assert spec["inputs"] == {"maps": True, "global_vector": True}
    assert spec["preprocessing"]["roi_margins_mm_xyz"] == [10.0, 5.0, 4.0]
    assert sorted(p.name for p in (root / "resources" / "stage2").glob("fold_*")) == ["fold_0"]
    ct = sitk.ReadImage(str(root / "cohort" / "imagesTr" / "case_005_0000.nii.gz"))
    (tmp_path / "in" / "images" / "venous-ct").mkdir(parents=True)
    sitk.WriteImage(ct, str(tmp_path / "in" / "images" / "venous-ct" / "case.mha"))
    args = [
        "--input",
        str(tmp_path / "in"),
        "--output",
        str(tmp_path / "out"),
        "--resources",
        str(root / "resources"),
    ]
    run = subprocess.run(
        [sys.executable, str(ROOT / "process.py"), *args, "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "nnUNetTrainerRadiomicsSmoke" in run.stderr
    detection = sitk.ReadImage(str(tmp_path / "out" / "images" / "pdac-detection-map" / "detection_map.mha"))
    assert detection.GetSize() == ct.GetSize() and detection.GetSpacing() == ct.GetSpacing()
    likelihood = json.loads((tmp_path / "out" / "pdac-likelihood.json").read_text())
    assert 0.0 <= likelihood <= 1.0
    assert np.isclose(sitk.GetArrayFromImage(detection).max(), likelihood, atol=1e-6) or likelihood == 0.0


def _rerun_logged(root: Path, *args: str) -> tuple[set[str], str]:
    """Run ``experiment`` with ``args``; returns the ledger units whose entry it rewrote and its log."""
    ledger = root / "work" / "experiment" / "ledger"
    before = {p.name: p.read_text() for p in ledger.glob("*.json")}
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    # the modules' own loggers: the CLI replaces the handlers of the package's logger
    loggers = [logging.getLogger(f"pdacrad_train.{name}") for name in ("ledger", "nnunet_run")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        _invoke("experiment", "--config", str(root / "tiny.yaml"), "--variants", "base", *args)
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    after = {p.name: p.read_text() for p in ledger.glob("*.json")}
    redone = {json.loads(after[n])["unit"] for n in after if before.get(n) != after[n]}
    return redone, stream.getvalue()


@pytest.mark.slow
def test_a_changed_input_redoes_exactly_the_units_downstream(study) -> None:
    """Issue 20 item 4: Stage-1 fold 1 retrained (one validation mask changed) → only fold 1's base selection and
    predictions redo; Stage-2 plans changed → the fold trains afresh (old folder set aside), then its predictions."""
    root, _ = study
    work = root / "work"
    stage1_fold1 = next((work / "nnUNet_results").glob("Dataset*Stage1*/*/fold_1"))
    mask_path = sorted((stage1_fold1 / "validation").glob("*.nii.gz"))[0]
    mask = sitk.ReadImage(str(mask_path))
    mask[0, 0, 0] = 1 - mask[0, 0, 0]  # another prediction of this case, as a retrained fold would give
    sitk.WriteImage(mask, str(mask_path))
    final = work / "cv_predictions_final" / "base"
    times = {p: p.stat().st_mtime_ns for p in final.rglob("likelihood.json")}
    steps = "stage1,oof,radiomics,stage2,select-checkpoint,predict"
    redone, log = _rerun_logged(root, "--steps", steps)
    assert redone == {"stage1:oof", "select-checkpoint:base:fold1", "predict-final:base:fold1"}, log
    assert "select-checkpoint:base:fold1: redo — oof_masks changed (was sha256 " in log
    assert {p.parent.parent.name for p, t in times.items() if p.stat().st_mtime_ns != t} == {"fold_1"}

    base = next((work / "nnUNet_results").glob("Dataset*_PdacradStage2Demo/nnUNetTrainerPicaiSmoke__*"))
    old = (base / "fold_0" / "checkpoint_final.pth").read_bytes()
    plans_path = next((work / "nnUNet_preprocessed").glob("Dataset*_PdacradStage2Demo")) / "nnUNetPlans.json"
    plans = json.loads(plans_path.read_text())
    plans["configurations"]["3d_fullres"]["batch_size"] = 1
    plans_path.write_text(json.dumps(plans, indent=2))
    redone, log = _rerun_logged(root, "--folds", "0", "--steps", "stage2,select-checkpoint,predict")
    assert redone == {"stage2:base:fold0", "select-checkpoint:base:fold0", "predict-final:base:fold0"}, log
    assert (
        "stage2:base:fold0: redo — plans changed" in log
        and "select-checkpoint:base:fold0: redo — checkpoint changed" in log
    )
    (aside,) = (base / "stale").iterdir()  # trained afresh, not resumed from the old checkpoint_latest.pth
    assert (aside / "checkpoint_final.pth").read_bytes() == old and "continuing" not in log
    assert (base / "fold_0" / "radiomics.json").is_file() and (base / "fold_0" / "validation").is_dir()


def test_unknown_variant_or_step_exits_2_with_one_line(tmp_path: Path) -> None:
    data = yaml.safe_load((CONFIGS / "synthetic-demo.yaml").read_text())
    data["work_dir"] = str(tmp_path / "work")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(data))
    for flag, value, message in (
        ("--variants", "base,maps2", "maps2"),
        ("--steps", "train", "train"),
        ("--folds", "7", "7"),
    ):
        result = CliRunner().invoke(app, ["experiment", "--config", str(tmp_path / "c.yaml"), flag, value])
        assert result.exit_code == 2, result.output
        assert message in result.output and result.output.count("error:") == 1


def test_map_datasets_follow_stage2_folds_when_splits_are_rerun(tmp_path: Path, monkeypatch, caplog) -> None:
    from dataclasses import replace

    from pdacrad_train.config import load_config
    from pdacrad_train.steps import stage2
    from pdacrad_train.workspace import workspace

    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):  # not the module study's folders
        monkeypatch.setenv(name, str(tmp_path / "work" / name))
    config = load_config(CONFIGS / "synthetic-demo.yaml", tmp_path / "work")
    ws = workspace(config)
    planned: list[int] = []

    def prepare(stage, run, ws, setup, after_planning=None) -> None:  # the guarded unit without nnU-Net
        setup()
        planned.append(stage.dataset_id)

    monkeypatch.setattr(stage2, "prepare_stage", prepare)
    maps_stage = replace(config.stage2, dataset_id=config.stage2.dataset_id + 50, dataset_name="Maps")
    source = ws.preprocessed_dataset(config.stage2) / "splits_final.json"
    target = ws.preprocessed_dataset(maps_stage) / "splits_final.json"
    source.parent.mkdir(parents=True)
    source.write_text(json.dumps([{"train": ["a"], "val": ["b"]}]))
    stage2._prepared_dataset(config, ws, maps_stage, set())
    assert target.read_bytes() == source.read_bytes()
    source.write_text(json.dumps([{"train": ["b"], "val": ["a"]}]))  # `splits` rerun with other folds
    stage2._prepared_dataset(config, ws, maps_stage, set())
    assert target.read_bytes() == source.read_bytes(), "stale folds kept in the map dataset"
    assert "stale" in caplog.text and planned == [maps_stage.dataset_id] * 2
