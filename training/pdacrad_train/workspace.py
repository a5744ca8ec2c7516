"""Where a training run keeps its files: the work directory and nnU-Net's three folders.

nnU-Net's ``nnUNet_raw``, ``nnUNet_preprocessed`` and ``nnUNet_results`` environment variables win when set;
otherwise they default to ``<work_dir>/nnUNet_raw`` etc. and are exported for nnU-Net (which reads them lazily).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pdacrad_train.config import StageConfig, TrainConfig

NNUNET_FOLDERS = ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")


@dataclass(frozen=True)
class Workspace:
    """Resolved folders of one training run (absolute paths)."""

    root: Path
    cohort: Path
    nnunet_raw: Path
    nnunet_preprocessed: Path
    nnunet_results: Path

    @property
    def cases_table(self) -> Path:
        """``cases.csv`` written by ``convert``: case, label, lesion_voxels, ROI index/size (x, y, z)."""
        return self.root / "cases.csv"

    @property
    def stage1_oof(self) -> Path:
        """Out-of-fold Stage-1 pancreas masks ``<case>.nii.gz`` (full CT grid, uint8 0/1), each predicted by the
        Stage-1 fold model that did not train on the case; the radiomics steps read them."""
        return self.root / "stage1_oof"

    @property
    def tmp(self) -> Path:
        """Scratch folder on the same file system, for writes that finish with an atomic rename."""
        return self.root / "tmp"

    def raw_dataset(self, stage: StageConfig) -> Path:
        return self.nnunet_raw / stage.dataset_folder_name

    def preprocessed_dataset(self, stage: StageConfig) -> Path:
        return self.nnunet_preprocessed / stage.dataset_folder_name

    def model_folder(self, stage: StageConfig, configuration: str = "3d_fullres") -> Path:
        """nnU-Net's trained-model folder ``<results>/<dataset>/<trainer>__<plans>__<configuration>``."""
        return (
            self.nnunet_results
            / stage.dataset_folder_name
            / f"{stage.trainer}__{stage.plans_name}__{configuration}"
        )

    def export_environment(self) -> None:
        """Put the three nnU-Net folders into ``os.environ`` (nnU-Net reads them at use time)."""
        for name, folder in zip(
            NNUNET_FOLDERS, (self.nnunet_raw, self.nnunet_preprocessed, self.nnunet_results), strict=True
        ):
            folder.mkdir(parents=True, exist_ok=True)
            os.environ[name] = str(folder)


def workspace(config: TrainConfig) -> Workspace:
    """The folders of ``config``'s run, honouring nnU-Net's environment variables where they are set."""
    root = Path(config.work_dir).resolve()
    cohort = Path(config.cohort.path).resolve() if config.cohort.source == "folder" else root / "cohort"
    nnunet = [Path(os.environ[n]).resolve() if os.environ.get(n) else root / n for n in NNUNET_FOLDERS]
    return Workspace(root, cohort, *nnunet)
