"""The config's map settings (workers, scheduler, device, precision) reach every call path that computes maps or
features: :func:`map_compute` reads them once, and a spy on the Dask cluster and on the map computation's entry
point (``compute_map_channels``) checks what arrives through the experiment's radiomics step, the ``maps`` and
``global-features`` commands, and the ``select-checkpoint`` and ``predict`` steps. A new call path that builds its
own cluster or forgets the device fails here."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from pdacrad_train import parallel
from pdacrad_train.config import TrainConfig, load_config
from pdacrad_train.experiment import run_experiment
from pdacrad_train.parallel import MapCompute, map_compute
from pdacrad_train.radiomics_config import RadiomicsConfig, SelectionConfig
from pdacrad_train.steps import predict, select_checkpoint
from pdacrad_train.steps.prepare import convert
from pdacrad_train.workspace import Workspace, workspace
from typer.testing import CliRunner

from pdacrad.errors import InvalidInputError
from pdacrad.inference import device as device_module
from pdacrad.inference import radiomics_inputs
from pdacrad.inference.radiomics_inputs import MAP_DTYPE
from pdacrad.model.radiomics_spec import RadiomicsSpec

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"
#: What the radiomics side file of these tests asks for: none of it a default.
SIDE = {"n_workers": 3, "scheduler": "tcp://spy:8786", "device": "cuda", "selection": {"mode": "pooled"}}
EXPECTED = MapCompute(device="cuda", dtype=MAP_DTYPE, n_workers=3, scheduler="tcp://spy:8786")
MAPS = ("original_firstorder_Mean",)


def _spec() -> RadiomicsSpec:
    setting = {"binWidth": 25, "label": 1}
    return RadiomicsSpec(
        params={"setting": setting, "imageType": {"Original": {}}, "featureClass": {"firstorder": ["Mean"]}},
        global_features=("original_firstorder_Mean",),
        mean=(100.0,),
        std=(10.0,),
        map_features=MAPS,
        map_params={
            "setting": setting,
            "voxelSetting": {"kernelRadius": 1, "maskedKernel": True, "initValue": 0.0},
            "imageType": {"Original": {}},
            "featureClass": {"firstorder": None},
        },
    )


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Every Dask cluster opened (``(scheduler, n_workers, processes)``; run in-process instead) and every map
    computation (``(device, dtype)``; run on the CPU). ``cuda`` resolves here without a GPU."""
    calls: dict[str, list[Any]] = {"clients": [], "maps": []}
    real_client, real_maps, real_resolve = (
        parallel.dask_client,
        radiomics_inputs.compute_map_channels,
        device_module.resolve_device,
    )

    @contextmanager
    def client(
        scheduler: str | None = None, n_workers: int | None = None, processes: bool = True
    ) -> Iterator[Any]:
        calls["clients"].append((scheduler, n_workers, processes))
        with real_client(None, 1, processes=False) as inner:
            yield inner

    def maps(ct_roi: Any, mask: Any, spec: Any, device: str = "auto", dtype: str = MAP_DTYPE) -> Any:
        calls["maps"].append((device, dtype))
        return real_maps(ct_roi, mask, spec, "cpu", dtype)

    def resolve(choice: str) -> torch.device:
        return torch.device("cuda") if choice == "cuda" else real_resolve(choice)

    monkeypatch.setattr(parallel, "dask_client", client)
    monkeypatch.setattr(radiomics_inputs, "compute_map_channels", maps)
    monkeypatch.setattr(device_module, "resolve_device", resolve)
    return calls


def _assert_configured(calls: dict[str, list[Any]], maps: bool = True) -> None:
    assert calls["clients"], "no Dask cluster opened"
    assert set(calls["clients"]) == {(EXPECTED.scheduler, EXPECTED.n_workers, True)}
    if maps:
        assert calls["maps"], "no map computed"
        assert set(calls["maps"]) == {(EXPECTED.device, EXPECTED.dtype)}


@pytest.fixture
def study(
    tmp_path: Path, tiny_cohort: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[TrainConfig, Workspace, Path]:
    """The tiny cohort converted, its pooled selection (one map feature) in place, the side file of :data:`SIDE`
    beside the config; returns (config, workspace, config file)."""
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.delenv(name, raising=False)
    data = yaml.safe_load((CONFIGS / "synthetic-demo.yaml").read_text())
    data["cohort"] = {"source": "folder", "path": str(tiny_cohort)}
    data["work_dir"] = str(tmp_path / "work")
    data["stage2"]["margins_mm_xyz"] = [10.0, 5.0, 4.0]
    data.setdefault("experiment", {})["allow_gt_masks"] = True
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "tiny.radiomics.yaml").write_text(yaml.safe_dump({**SIDE, "params": str(_params(tmp_path))}))
    config = load_config(tmp_path / "tiny.yaml")
    ws = workspace(config)
    convert(config, ws, progress=False)
    _spec().save(ws.selection_dir(None) / "radiomics.json")
    return config, ws, tmp_path / "tiny.yaml"


def _params(folder: Path) -> Path:
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(_spec().params))
    return path


def test_map_compute_reads_the_config_once_command_line_first() -> None:
    config = load_config(CONFIGS / "synthetic-demo.yaml")
    assert config.run.device == "cpu"
    assert map_compute(config, RadiomicsConfig()) == MapCompute("cpu", MAP_DTYPE, None, None, True)
    rcfg = RadiomicsConfig(n_workers=2, scheduler="tcp://a:1", device="auto")
    expected_auto = "cuda" if torch.cuda.is_available() else "cpu"
    assert map_compute(config, rcfg) == MapCompute(expected_auto, MAP_DTYPE, 2, "tcp://a:1", True)
    assert map_compute(config, rcfg, "tcp://b:2", "cpu", processes=False) == MapCompute(
        "cpu", MAP_DTYPE, 2, "tcp://b:2", False
    )
    on_gpu = dataclasses.replace(config, run=dataclasses.replace(config.run, device="cuda"))
    if not torch.cuda.is_available():  # run.device is the default of the maps' device, resolved once
        with pytest.raises(InvalidInputError, match="no CUDA device"):
            map_compute(on_gpu, RadiomicsConfig())
    assert map_compute(on_gpu, RadiomicsConfig(device="cpu")).device == "cpu"


def test_the_side_file_keys_load(study) -> None:
    from pdacrad_train.radiomics_config import load_radiomics_config

    config, _, _ = study
    rcfg = load_radiomics_config(config)
    assert (rcfg.n_workers, rcfg.scheduler, rcfg.device) == (3, "tcp://spy:8786", "cuda")


def test_the_experiments_radiomics_step_uses_the_configured_cluster_and_device(
    study, spies, monkeypatch
) -> None:
    from pdacrad_train import steps

    config, ws, _ = study
    rcfg = RadiomicsConfig(
        n_workers=3, scheduler="tcp://spy:8786", device="cuda", selection=SelectionConfig(mode="pooled")
    )
    given: list[MapCompute] = []
    radiomics_step = steps.radiomics

    def global_features(ws, rcfg, compute, masks=None, allow_gt_masks=False, client=None):  # type: ignore[no-untyped-def]
        given.append(compute)
        assert client is not None, "global features run on the step's one cluster"

    monkeypatch.setattr(radiomics_step, "run_global_features", global_features)
    monkeypatch.setattr(radiomics_step, "run_select", lambda *a, **k: None)
    run_experiment(config, ws, rcfg, ["maps"], steps=("radiomics",))
    assert given == [EXPECTED]
    assert len(spies["clients"]) == 1, "one cluster for the whole radiomics step"
    _assert_configured(spies)


def test_the_maps_command_uses_the_side_file_and_the_command_line_wins(study, spies) -> None:
    from pdacrad_train.cli import app

    _, ws, config_file = study
    result = CliRunner().invoke(app, ["maps", "--config", str(config_file)])
    assert result.exit_code == 0, result.output
    _assert_configured(spies)
    for path in ws.map_cache.rglob("*.nii.gz"):
        path.unlink()
    spies["clients"].clear()
    spies["maps"].clear()
    result = CliRunner().invoke(
        app, ["maps", "--config", str(config_file), "--scheduler", "tcp://other:1", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert set(spies["clients"]) == {("tcp://other:1", 3, True)}
    assert set(spies["maps"]) == {("cpu", MAP_DTYPE)}


def test_the_global_features_command_uses_the_configured_cluster(study, spies) -> None:
    from pdacrad_train.cli import app

    _, ws, config_file = study
    result = CliRunner().invoke(app, ["global-features", "--config", str(config_file)])
    assert result.exit_code == 0, result.output
    _assert_configured(spies, maps=False)
    assert ws.global_features_table.is_file()


class _Reached(Exception):
    """Raised by the fake prediction with the settings it was given."""


@pytest.mark.parametrize("step", ["select-checkpoint", "predict"])
def test_the_prediction_steps_get_the_configured_settings(study, step, monkeypatch) -> None:
    """Both steps hand :func:`predict_validation_cases` the experiment's settings (which computes the maps with
    them: tests/training/test_cv_prediction.py)."""
    config, ws, _ = study
    rcfg = RadiomicsConfig(n_workers=3, scheduler="tcp://spy:8786", device="cpu")

    def fake(config, ws, variant, fold, mode, targets, compute):  # type: ignore[no-untyped-def]
        raise _Reached(compute)

    monkeypatch.setattr(select_checkpoint, "predict_validation_cases", fake)
    monkeypatch.setattr(select_checkpoint, "fold_candidates", lambda folder: [])
    monkeypatch.setattr(predict, "predict_validation_cases", fake)
    with pytest.raises(_Reached) as reached:
        run_experiment(config, ws, rcfg, ["maps"], [0], steps=(step,))
    assert reached.value.args[0] == dataclasses.replace(EXPECTED, device="cpu")
