"""A tiny nnU-Net dataset (CT + 2 map channels, 4 cases of 20×40×40 voxels), planned and preprocessed by nnU-Net
with a 3-stage 4-8-16 network and 16×32×32 patches, for the trainer tests: seconds per iteration on one CPU
thread."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from pdacrad.nnunet_ext import TRAINER_DIR
from pdacrad.nnunet_ext.conditioning.global_vectors import save_global_vectors

DATASET_ID, DATASET = 987, "Dataset987_RadiomicsTiny"
CONFIGURATION = "3d_fullres"
CASES = ("case_000", "case_001", "case_002", "case_003")
#: Two folds, each validating one case with a lesion (odd index) and one without.
SPLITS = (
    {"train": ["case_000", "case_003"], "val": ["case_001", "case_002"]},
    {"train": ["case_001", "case_002"], "val": ["case_000", "case_003"]},
)
#: The pooled feature list in the preprocessed folder.
FEATURES = ("original_glcm_Correlation", "original_firstorder_Mean", "log-sigma-2-0-mm-3D_glcm_Idm", "x_y_Z")
SIZE_ZYX, SPACING_XYZ = (20, 40, 40), (1.0, 1.0, 2.0)
NNUNET_DIRS = ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")


@dataclass(frozen=True)
class TinyDataset:
    """Folders of the planned and preprocessed tiny dataset."""

    root: Path

    @property
    def preprocessed(self) -> Path:
        return self.root / "nnUNet_preprocessed" / DATASET

    @property
    def results(self) -> Path:
        return self.root / "nnUNet_results" / DATASET

    def model_folder(self, trainer: str) -> Path:
        return self.results / f"{trainer}__nnUNetPlans__{CONFIGURATION}"

    def use(self, mp: pytest.MonkeyPatch) -> None:
        """Point nnU-Net at this dataset: paths, our trainers, no worker processes for augmentation."""
        for name in NNUNET_DIRS:
            mp.setenv(name, str(self.root / name))
        mp.setenv("nnUNet_extTrainer", str(TRAINER_DIR))  # our classes, re-exported
        mp.setenv("nnUNet_n_proc_DA", "0")


def _write_raw_case(raw: Path, case: str, positive: bool, rng: np.random.Generator) -> None:
    """CT (HU) with a pancreas box (label 2) and, when positive, a hypo-attenuating lesion (label 1); two
    'map' channels (a texture-like noise map and a smooth one), all on the CT grid."""
    z, y, x = np.mgrid[: SIZE_ZYX[0], : SIZE_ZYX[1], : SIZE_ZYX[2]]
    label = np.zeros(SIZE_ZYX, np.uint8)
    label[6:14, 10:30, 8:32] = 2
    ct = np.where(label == 2, 110.0, 40.0) + rng.normal(0, 10, SIZE_ZYX)
    if positive:
        label[8:12, 15:22, 14:22] = 1
        ct[label == 1] = 50.0
    maps = [np.abs(rng.normal(0, 1, SIZE_ZYX)) * (1 + (label == 1)), np.sin(x / 5.0) + z / 20.0 + 0 * y]
    for index, array in enumerate([ct.astype(np.int16), *[m.astype(np.float32) for m in maps]]):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing(SPACING_XYZ)
        sitk.WriteImage(image, str(raw / "imagesTr" / f"{case}_{index:04d}.nii.gz"))
    seg = sitk.GetImageFromArray(label)
    seg.SetSpacing(SPACING_XYZ)
    sitk.WriteImage(seg, str(raw / "labelsTr" / f"{case}.nii.gz"))


def _tiny_plans(plans: dict) -> dict:
    """Only 3d_fullres: 3 stages, 4-8-16 features, patch 16×32×32, batch 2."""
    plans["configurations"] = {CONFIGURATION: plans["configurations"][CONFIGURATION]}
    conf = plans["configurations"][CONFIGURATION]
    conf.update(patch_size=[16, 32, 32], batch_size=2)
    conf["architecture"]["arch_kwargs"].update(
        n_stages=3,
        features_per_stage=[4, 8, 16],
        kernel_sizes=[[1, 3, 3], [3, 3, 3], [3, 3, 3]],
        strides=[[1, 1, 1], [1, 2, 2], [2, 2, 2]],
        n_conv_per_stage=[2, 2, 2],
        n_conv_per_stage_decoder=[1, 1],
    )
    return plans


def _fingerprint_extractor() -> type:
    """nnU-Net's fingerprint extractor sampling 10^5 foreground voxels for the intensity statistics instead of
    10^8 (which, on 4 tiny cases, means 25 million samples with replacement per case and channel: minutes)."""
    from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import (
        DatasetFingerprintExtractor,
    )

    class SmallSampleFingerprintExtractor(DatasetFingerprintExtractor):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            self.num_foreground_voxels_for_intensitystats = 1e5

    return SmallSampleFingerprintExtractor


def case_vectors(features: tuple[str, ...], seed: int) -> dict[str, np.ndarray]:
    """Distinct random vectors for every case."""
    rng = np.random.default_rng(seed)
    return {case: rng.normal(size=len(features)) for case in CASES}


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TinyDataset]:
    """Raw dataset → nnU-Net fingerprint, plans (made tiny), preprocessing; 2-fold splits_final.json and the
    pooled global_vectors.json (:data:`FEATURES`) in the preprocessed folder."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprint_dataset,
        plan_experiment_dataset,
        preprocess_dataset,
    )

    torch.set_num_threads(1)
    dataset = TinyDataset(tmp_path_factory.mktemp("nnunet"))
    with pytest.MonkeyPatch.context() as mp:
        for name in NNUNET_DIRS:
            mp.setenv(name, str(dataset.root / name))
            (dataset.root / name).mkdir()
        raw = dataset.root / "nnUNet_raw" / DATASET
        (raw / "imagesTr").mkdir(parents=True)
        (raw / "labelsTr").mkdir()
        rng = np.random.default_rng(0)
        for i, case in enumerate(CASES):
            _write_raw_case(raw, case, positive=i % 2 == 1, rng=rng)
        (raw / "dataset.json").write_text(
            json.dumps(
                {
                    "channel_names": {"0": "CT", "1": "zscore", "2": "zscore"},
                    "labels": {"background": 0, "PDAC": 1, "pancreas": 2},
                    "numTraining": len(CASES),
                    "file_ending": ".nii.gz",
                }
            )
        )
        extract_fingerprint_dataset(
            DATASET_ID,
            _fingerprint_extractor(),
            num_processes=1,
            verbose=False,
            show_progress_bar=False,
        )
        plan_experiment_dataset(DATASET_ID)
        plans_file = dataset.preprocessed / "nnUNetPlans.json"
        plans_file.write_text(json.dumps(_tiny_plans(json.loads(plans_file.read_text()))))
        preprocess_dataset(DATASET_ID, "nnUNetPlans", [CONFIGURATION], [1], show_progress_bar=False)
        (dataset.preprocessed / "splits_final.json").write_text(json.dumps(list(SPLITS)))
        save_global_vectors(dataset.preprocessed, FEATURES, case_vectors(FEATURES, seed=10))
    yield dataset
