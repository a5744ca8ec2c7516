"""The radiomics Stage 2 from the training tree to process.py on tiny phantoms: `maps` channels → nnU-Net planning
(CT normalisation for channel 0, z-score for map channels) → a few CPU iterations of nnUNetTrainerRadiomics →
export with radiomics.json → process.py loads the checkpoint and writes valid outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
import yaml
from pdacrad_train.config import load_config
from pdacrad_train.convert import convert
from pdacrad_train.export import export_radiomics, export_stage
from pdacrad_train.fit import CONFIGURATION, plan_stage, preprocess_stage
from pdacrad_train.global_features import feature_folder
from pdacrad_train.maps_step import run_maps
from pdacrad_train.workspace import workspace

from pdacrad.nnunet_ext.global_vectors import GLOBAL_VECTORS_FILENAME, save_global_vectors
from pdacrad.nnunet_ext.radiomics_trainer import PLANS_KEY, nnUNetTrainerRadiomics
from pdacrad.radiomics_spec import RadiomicsSpec
from pdacrad.resources import write_manifest
from tests.random_model import write_random_resources

ROOT = Path(__file__).resolve().parents[2]
MAPS = ("original_firstorder_Mean", "original_glcm_Idm")
GLOBAL = ("original_shape_VoxelVolume", "original_firstorder_Mean", "original_glcm_Idm")
CASES = ("case_000", "case_001", "case_002")


def _spec() -> RadiomicsSpec:
    setting = {"binWidth": 25, "label": 1}
    return RadiomicsSpec(
        params={
            "setting": setting,
            "imageType": {"Original": {}},
            "featureClass": {"shape": ["VoxelVolume"], "firstorder": ["Mean"], "glcm": ["Idm"]},
        },
        global_features=GLOBAL,
        mean=(5000.0, 80.0, 0.5),
        std=(2000.0, 30.0, 0.2),
        map_features=MAPS,
        map_params={
            "setting": setting,
            "voxelSetting": {"kernelRadius": 1, "maskedKernel": True, "initValue": 0.0},
            "imageType": {"Original": {}},
            "featureClass": {"firstorder": ["Mean"], "glcm": ["Idm"]},
        },
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory, phantom_writer):
    """convert → maps → plan/preprocess → 1 epoch × 2 iterations of nnUNetTrainerRadiomics → resources/."""
    tmp = tmp_path_factory.mktemp("radpath")
    cohort = tmp / "cohort"
    for i, case in enumerate(CASES):
        phantom_writer(cohort, case, lesion_radius_vox=i, seed=i)
    data = yaml.safe_load((ROOT / "training" / "configs" / "synthetic-demo.yaml").read_text())
    data.update(cohort={"source": "folder", "path": str(cohort)}, work_dir=str(tmp / "work"))
    data["stage2"].update(
        dataset_id=977,
        dataset_name="RadiomicsPathTiny",
        trainer="nnUNetTrainerRadiomics",
        margins_mm_xyz=[10.0, 5.0, 4.0],
        target_spacing_zyx=[4.0, 2.5, 2.0],
        patch_size_zyx=[8, 16, 16],
        base_features=4,
        max_features=16,
        max_stages=3,
    )
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(data))
    with pytest.MonkeyPatch.context() as mp:
        for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
            mp.setenv(name, str(tmp / "work" / name))  # restored on exit, whatever fit exports
        config = load_config(tmp / "tiny.yaml")
        ws = workspace(config)
        convert(config, ws, progress=False)
        _spec().save(feature_folder(ws) / "radiomics.json")
        run_maps(config, ws, processes=False)
        rng = np.random.default_rng(0)
        vectors = ws.preprocessed_dataset(config.stage2) / GLOBAL_VECTORS_FILENAME  # what `select` writes
        vectors.parent.mkdir(parents=True)
        save_global_vectors(vectors, GLOBAL, {c: rng.normal(size=len(GLOBAL)) for c in CASES})
        plans_file = plan_stage(config.stage2, config.run, ws)
        preprocess_stage(config.stage2, config.run, ws)
        plans = json.loads(plans_file.read_text())
        dataset_json = json.loads((ws.preprocessed_dataset(config.stage2) / "dataset.json").read_text())
        plans["continue_training"] = False  # read by nnUNetTrainer.__init__ (fit sets it the same way)
        torch.manual_seed(0)
        trainer = nnUNetTrainerRadiomics(
            plans, CONFIGURATION, "all", dataset_json, device=torch.device("cpu")
        )
        trainer.num_epochs, trainer.num_iterations_per_epoch, trainer.num_val_iterations_per_epoch = 1, 2, 1
        trainer.picai_every = 0
        # in-process augmentation; set only now: nnU-Net's planner passes this value to torch.set_num_threads
        mp.setenv("nnUNet_n_proc_DA", "0")
        trainer.run_training()

        resources = write_random_resources(
            tmp / "resources",
            stage1_pancreas_bias=2.0,
            stage1_spacing_zyx=(4.0, 4.0, 4.0),
            patch_size_zyx=(8, 16, 16),
            mirror_axes=None,
        )
        export_stage(config.stage2, ws, resources / "stage2", "checkpoint_final.pth")
        export_radiomics(ws, resources)
        write_manifest(resources, demo=True, trained_on="tiny phantoms (test)", training_config="none")
        yield plans, resources, cohort


@pytest.mark.slow
def test_planning_normalises_ct_as_ct_and_maps_by_zscore(trained):
    plans, _, _ = trained
    conf = plans["configurations"][CONFIGURATION]
    assert conf["normalization_schemes"] == ["CTNormalization", "ZScoreNormalization", "ZScoreNormalization"]


@pytest.mark.slow
def test_export_brings_radiomics_json_matching_the_model(trained):
    _, resources, _ = trained
    assert RadiomicsSpec.load(resources / "radiomics.json") == _spec()
    plans = json.loads((resources / "stage2" / "plans.json").read_text())
    assert plans["configurations"][CONFIGURATION][PLANS_KEY]["global_features"] == list(GLOBAL)
    channels = json.loads((resources / "stage2" / "dataset.json").read_text())["channel_names"]
    assert channels == {"0": "CT", "1": MAPS[0], "2": MAPS[1]}


@pytest.mark.slow
def test_process_py_loads_the_trained_radiomics_checkpoint(trained, tmp_path):
    _, resources, cohort = trained
    ct = sitk.ReadImage(str(cohort / "imagesTr" / "case_002_0000.nii.gz"))
    (tmp_path / "in" / "images" / "venous-ct").mkdir(parents=True)
    sitk.WriteImage(ct, str(tmp_path / "in" / "images" / "venous-ct" / "case.mha"))
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "process.py"),
            "--input",
            str(tmp_path / "in"),
            "--output",
            str(tmp_path / "out"),
            "--resources",
            str(resources),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "3 input channel(s)" in run.stderr and "nnUNetTrainerRadiomics" in run.stderr
    detection = sitk.ReadImage(str(tmp_path / "out" / "images" / "pdac-detection-map" / "detection_map.mha"))
    assert detection.GetSize() == ct.GetSize() and detection.GetSpacing() == ct.GetSpacing()
    likelihood = json.loads((tmp_path / "out" / "pdac-likelihood.json").read_text())
    assert 0.0 <= likelihood <= 1.0
