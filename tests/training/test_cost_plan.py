"""``pdacrad-train experiment --plan``: the units it prices are the units the runner runs; costs scale linearly
with the cohort where they should; GPU and CPU figures stay apart; every figure has a source; it needs no data."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import pytest
import yaml
from pdacrad_train import experiment
from pdacrad_train.cli import app
from pdacrad_train.config import load_config
from pdacrad_train.cost_basis import DEFAULT_BASIS, KINDS, CostBasis, load_basis
from pdacrad_train.cost_plan import plan_experiment, tiles
from pdacrad_train.cost_report import default_cases
from pdacrad_train.radiomics_config import load_radiomics_config
from pdacrad_train.steps import predict, prepare, radiomics, select_checkpoint, stage1, stage2
from pdacrad_train.units import experiment_units
from pdacrad_train.workspace import workspace
from typer.testing import CliRunner

from pdacrad.errors import InvalidInputError

ROOT = Path(__file__).resolve().parents[2]
PANORAMA = ROOT / "training" / "configs" / "panorama.yaml"


@pytest.fixture(scope="module")
def panorama():
    config = load_config(PANORAMA)
    return config, load_radiomics_config(config), load_basis()


def _smoke_config(tmp_path: Path) -> Path:
    """The smoke study's config shape (test_experiment.py): 2 folds, variants base and both, per-fold selection."""
    data = yaml.safe_load((ROOT / "training" / "configs" / "synthetic-demo.yaml").read_text())
    data.update(work_dir=str(tmp_path / "work"))
    data["splits"]["n_folds"] = 2
    data["stage2"]["trainer"] = "nnUNetTrainerPicaiSmoke"
    data["experiment"] = {
        "variants": ["base", "both"],
        "plain_trainer": "nnUNetTrainerPicaiSmoke",
        "radiomics_trainer": "nnUNetTrainerRadiomicsSmoke",
        "maps_dataset_id": 960,
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "tiny.radiomics.yaml").write_text(yaml.safe_dump({"selection": {"mode": "per-fold"}}))
    return tmp_path / "tiny.yaml"


def test_the_plan_lists_what_the_runner_hands_to_the_ledger(tmp_path: Path, monkeypatch) -> None:
    """Every step's loop runs for real with its work stubbed out: the ledger's units equal the plan's, in order."""
    config = load_config(_smoke_config(tmp_path))
    rcfg = load_radiomics_config(config)
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.setenv(name, str(tmp_path / "work" / name))
    nothing = lambda *a, **k: None  # noqa: E731
    for module, names in (
        (prepare, ("convert", "write_splits")),
        (stage1, ("prepare_stage", "train_fold")),
        (experiment, ("collect_oof_masks", "run_evaluate")),
        (radiomics, ("run_global_features", "run_select", "load_selection", "materialise_map_dataset",
                     "selection_training_cases")),
        (stage2, ("_prepared_dataset", "_train", "variant_spec")),
        (select_checkpoint, ("select_fold",)),
        (predict, ("predict_fold",)),
    ):  # fmt: skip
        for name in names:
            monkeypatch.setattr(module, name, nothing)
    for module, name in ((stage2, "fold_inputs"), (select_checkpoint, "prediction_inputs"),
                         (predict, "prediction_inputs")):  # fmt: skip
        monkeypatch.setattr(module, name, lambda *a, **k: {})  # the units' input digests: nothing to read
    # select-checkpoint leaves both checkpoints' predictions, so both tables are evaluated
    monkeypatch.setattr(experiment, "is_complete", lambda *a: True)
    ws = workspace(config)
    experiment.run_experiment(config, ws, rcfg)
    ran = [e.unit for e in sorted(ws.ledger.entries(), key=lambda e: e.finished)]
    planned = [
        u.name
        for u in experiment_units(config, rcfg.selection.mode, config.experiment.variants, config.folds)
    ]
    assert sorted(ran) == sorted(u for u in planned if not u.startswith("preprocess:"))
    assert "stage2:both:fold1" in ran and "radiomics:maps:Dataset962_PdacradStage2DemoMapsFold1" in ran
    assert {"evaluate", "evaluate-final"} <= set(ran)


def test_panorama_plan_prices_every_unit_of_the_config(panorama) -> None:
    config, rcfg, basis = panorama
    plan = plan_experiment(config, rcfg, basis, 2238)
    names = [r.unit for r in plan.rows]
    assert len([n for n in names if n.startswith("stage2:")]) == 4 * 5
    assert len([n for n in names if n.startswith("stage1:fold")]) == 5
    assert len([n for n in names if n.startswith("radiomics:maps:")]) == 5  # per-fold selection: one per fold
    assert (
        len([n for n in names if n.startswith("preprocess:")]) == 1 + 1 + 5
    )  # Stage 1, Stage 2, 5 map datasets
    train = [r for r in plan.rows if r.unit.startswith(("stage1:fold", "stage2:"))]
    assert all(r.gpu_h > 0 and r.device == "gpu" for r in train)
    cpu_only = [
        r for r in plan.rows if r.unit.startswith(("prepare:", "radiomics:", "preprocess:", "evaluate"))
    ]
    assert all(r.gpu_h == 0 and r.device == "cpu" for r in cpu_only)
    total = plan.totals()
    assert total["gpu_h"] == pytest.approx(sum(r.gpu_h for r in plan.rows))
    assert total["peak_ram_gb"] == max(r.peak_ram_gb for r in plan.rows)
    steps = plan.by_step()
    assert list(steps) == [
        "prepare",
        "stage1",
        "oof",
        "radiomics",
        "stage2",
        "select-checkpoint",
        "predict",
        "evaluate",
    ]
    assert sum(s["cpu_h"] for s in steps.values()) == pytest.approx(total["cpu_h"])


def test_costs_grow_linearly_with_the_cohort_and_training_does_not(panorama) -> None:
    config, rcfg, basis = panorama
    p0, p1, p2 = (plan_experiment(config, rcfg, basis, n) for n in (0, 1000, 2000))
    for r0, r1, r2 in zip(p0.rows, p1.rows, p2.rows, strict=True):
        for column in ("gpu_h", "cpu_h", "disk_gb"):
            a, b, c = (getattr(r, column) for r in (r0, r1, r2))
            assert c - b == pytest.approx(b - a, rel=1e-9, abs=1e-12), (r0.unit, column)
    # no cases: only the fixed schedules (training iterations) cost GPU time; no case-bound CPU work is left
    assert {r.unit for r in p0.rows if r.gpu_h > 0} == {
        r.unit for r in p0.rows if r.unit.startswith(("stage1:fold", "stage2:"))
    }
    assert all(r.cpu_h == 0 for r in p0.rows)
    select = next(r for r in p1.rows if r.unit == "select-checkpoint:base:fold0")
    predict_row = next(r for r in p1.rows if r.unit == "predict-final:base:fold0")
    assert select.gpu_h == pytest.approx(20 * predict_row.gpu_h)  # 19 snapshots + final (1000 epochs / 50)


def test_gpu_figures_price_gpu_time_only_and_cpu_figures_cpu_time_only(panorama) -> None:
    config, rcfg, basis = panorama
    base = plan_experiment(config, rcfg, basis, 500)
    slow_gpu = _scaled(basis, "gpu.A100-40GB.epoch_s", 2.0)
    slow_cpu = _scaled(basis, "cpu.resample_s_per_voxel", 2.0)
    for other, same, doubled in ((slow_gpu, "cpu_h", "gpu_h"), (slow_cpu, "gpu_h", None)):
        changed = plan_experiment(config, rcfg, other, 500)
        for a, b in zip(base.rows, changed.rows, strict=True):
            assert getattr(a, same) == getattr(b, same), a.unit
            if doubled:
                assert getattr(b, doubled) == pytest.approx(2 * getattr(a, doubled)), a.unit


def _scaled(basis: CostBasis, key: str, factor: float) -> CostBasis:
    figure = basis.figures[key]
    figures = dict(basis.figures, **{key: dataclasses.replace(figure, value=figure.value * factor)})
    return dataclasses.replace(basis, figures=figures)


def test_every_figure_has_a_value_unit_kind_and_source() -> None:
    data = json.loads(DEFAULT_BASIS.read_text())
    for key, figure in data["figures"].items():
        assert figure["kind"] in KINDS, key
        assert figure["source"].strip() and figure["unit"].strip() and figure["scales_with"].strip(), key
        if figure["kind"] == "measured-cpu":  # says where and with what command it was measured
            assert "RESULTS.md" in figure["source"] or "ledger" in figure["source"], key
        if figure["kind"] == "published-gpu":
            assert figure["source"].startswith("https://"), key


def test_a_figure_without_a_source_is_refused(tmp_path: Path) -> None:
    data = json.loads(DEFAULT_BASIS.read_text())
    data["figures"]["cpu.postprocess_s_per_case"]["source"] = ""
    (tmp_path / "basis.json").write_text(json.dumps(data))
    with pytest.raises(InvalidInputError, match=r"cpu\.postprocess_s_per_case.*source"):
        load_basis(tmp_path / "basis.json")


def test_sliding_window_tiles_match_nnunet_steps() -> None:
    assert tiles((74, 230, 425), (48, 128, 288), 0.5) == 3 * 3 * 2
    assert tiles((48, 86, 86), (48, 96, 96), 0.5) == 1


def test_the_command_needs_no_data_and_no_work_folder(tmp_path: Path) -> None:
    work = tmp_path / "nowhere"
    runner = CliRunner()
    args = ["experiment", "--config", str(PANORAMA), "--plan", "--work-dir", str(work)]
    text = runner.invoke(app, args)
    assert text.exit_code == 0, text.output
    assert "2,238 cases" in text.output and "TOTAL" in text.output and "ASSUMPTIONS" in text.output
    assert "expected_epoch_times.md" in text.output and "benchmarks/stage1.py" in text.output
    as_json = runner.invoke(app, [*args, "--cases", "100", "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    plan = json.loads(as_json.output)
    assert plan["cases"] == 100 and plan["totals"]["gpu_h"] > 0 and plan["figures"]
    as_csv = runner.invoke(app, [*args, "--format", "csv", "--steps", "stage1"])
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert [r["unit"] for r in rows] == ["preprocess:Dataset103_PANORAMA_pancreas_lowres"] + [
        f"stage1:fold{k}" for k in range(5)
    ]
    assert not work.exists()
    bad = runner.invoke(app, [*args, "--gpu", "TPU"])
    assert bad.exit_code == 2 and "A100-40GB" in bad.output


def test_default_cohort_size_without_data_is_the_baseline_folds(panorama, tmp_path: Path) -> None:
    config = panorama[0]
    assert default_cases(config) == 2238  # data/PANORAMA is absent: the baseline fold files' cases
    no_folds = dataclasses.replace(
        config,
        cohort=dataclasses.replace(config.cohort, path=str(tmp_path / "none")),
        splits=dataclasses.replace(config.splits, baseline_stage1=None, baseline_stage2=None),
    )
    with pytest.raises(InvalidInputError, match="--cases"):
        default_cases(no_folds)


def test_a_measured_run_replaces_the_cpu_rates_it_measured_and_never_gpu_time(tmp_path: Path) -> None:
    """A finished run's unit costs (the rehearsal's experiment/costs/) refit convert's and global features' CPU
    rates per CT voxel of its cohort; GPU time stays the published figure; its training CPU-s is only reported."""
    import numpy as np
    import SimpleITK as sitk

    cohort = tmp_path / "cohort" / "imagesTr"
    cohort.mkdir(parents=True)
    for case in ("p1_00001", "p2_00001"):  # 2 cases of 10 × 20 × 30 = 6,000 voxels
        sitk.WriteImage(
            sitk.GetImageFromArray(np.zeros((10, 20, 30), np.int16)), str(cohort / f"{case}_0000.nii.gz")
        )
    data = yaml.safe_load((ROOT / "training" / "configs" / "synthetic-demo.yaml").read_text())
    data.update(
        work_dir=str(tmp_path / "work"), cohort={"source": "folder", "path": str(tmp_path / "cohort")}
    )
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(data))
    costs = tmp_path / "work" / "experiment" / "costs"
    costs.mkdir(parents=True)
    for unit, cpu_s in (
        ("prepare:convert", 24.0),
        ("radiomics:global-features", 120.0),
        ("stage1:fold0", 800.0),
    ):
        record = {"unit": unit, "ok": True, "wall_s": cpu_s, "cpu_s": cpu_s, "peak_rss_bytes": 2**30,
                  "disk_written_bytes": 0, "disk_source": "proc_io", "started": "", "finished": ""}  # fmt: skip
        (costs / f"{unit.replace(':', '_')}.json").write_text(json.dumps(record))
    runner = CliRunner()
    args = ["experiment", "--config", str(PANORAMA), "--plan", "--cases", "100", "--format", "json"]
    plain = json.loads(runner.invoke(app, args).output)
    result = runner.invoke(app, [*args, "--measured-run", str(tmp_path / "run.yaml")])
    assert result.exit_code == 0, result.output
    refit = json.loads(result.output)
    convert = refit["figures"]["cpu.convert_s_per_ct_voxel"]
    assert convert["kind"] == "measured-cpu" and convert["value"] == pytest.approx(24.0 / (2 * 6000))
    assert "prepare_convert.json" in convert["source"]
    rows = {r["unit"]: r for r in refit["rows"]}
    ct = refit["figures"]["case.ct_voxels"]["value"]
    assert rows["prepare:convert"]["cpu_h"] == pytest.approx(100 * ct * 24.0 / 12000 / 3600)
    assert refit["totals"]["gpu_h"] == plain["totals"]["gpu_h"]  # training is never refitted from a CPU
    assert any("stage1:fold0" in n and "GPU time stays the published figure" in n for n in refit["notes"])
