"""Where a training run keeps its files: every path of the work directory and nnU-Net's three folders, in one place.

nnU-Net's ``nnUNet_raw``, ``nnUNet_preprocessed`` and ``nnUNet_results`` environment variables win when set;
otherwise they default to ``<work_dir>/nnUNet_raw`` etc. and are exported for nnU-Net (which reads them lazily).
Steps ask the :class:`Workspace` where their inputs and outputs are; no step computes another step's paths::

    <work_dir>/
        cohort/                      the synthetic cohort (``cohort.source: synth``)
        cases.csv                    convert's case table
        stage1_oof/<case>.nii.gz     out-of-fold Stage-1 masks (+ provenance.json)
        radiomics/                   global_features/ (cache), global_features.csv, map_cache/,
                                     prediction_map_cache/ (maps on the ROIs of CV prediction),
                                     pooled/ | fold_<k>/ (selections), selection_summary.json
        cv_predictions[_final]/      cross-validated predictions per checkpoint
        checkpoint_selection/        select-checkpoint's predictions of each snapshot (the final one's are in
                                     cv_predictions_final/, the selected one's copied to cv_predictions/)
        evaluation[_final]/          the evaluation per checkpoint
        calibration[_final]/         the likelihood calibration per checkpoint (<variant>/calibration.json)
        experiment/ledger/           the run ledger
        nnUNet_raw/, nnUNet_preprocessed/, nnUNet_results/   (unless set in the environment)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pdacrad_train.config import StageConfig, StudyCheckpoint, TrainConfig
from pdacrad_train.ledger import Ledger

NNUNET_FOLDERS = ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")
#: Folder-name suffix of each checkpoint's predictions and evaluation.
_CHECKPOINT_SUFFIX: dict[StudyCheckpoint, str] = {"picai": "", "final": "_final"}


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

    def cohort_image(self, case: str) -> Path:
        """The CT of ``case`` in the cohort: ``<cohort>/imagesTr/<case>_0000.nii.gz``."""
        return self.cohort / "imagesTr" / f"{case}_0000.nii.gz"

    def oof_mask(self, case: str) -> Path:
        """The out-of-fold Stage-1 mask of ``case``: ``<work_dir>/stage1_oof/<case>.nii.gz``."""
        return self.stage1_oof / f"{case}.nii.gz"

    @property
    def radiomics(self) -> Path:
        """``<work_dir>/radiomics``: the global-features cache and table, the selections, the map cache."""
        return self.root / "radiomics"

    @property
    def global_features_cache(self) -> Path:
        """Per-case cache of ``global-features``: ``<work_dir>/radiomics/global_features/<case>.json``."""
        return self.radiomics / "global_features"

    @property
    def global_features_table(self) -> Path:
        """The case × feature table written by ``global-features`` and read by ``select``."""
        return self.radiomics / "global_features.csv"

    def selection_dir(self, fold: int | None) -> Path:
        """Where a feature selection lives: ``<work_dir>/radiomics/pooled`` (``fold=None``) or ``.../fold_<k>``."""
        return self.radiomics / ("pooled" if fold is None else f"fold_{fold}")

    @property
    def selection_summary(self) -> Path:
        """``select``'s summary of every selection and the radiomics-only SVM's cross-validation."""
        return self.radiomics / "selection_summary.json"

    @property
    def map_cache(self) -> Path:
        """The per-feature cache of parametric maps, ``<work_dir>/radiomics/map_cache``
        (:mod:`pdacrad_train.map_cache`)."""
        return self.radiomics / "map_cache"

    @property
    def prediction_map_cache(self) -> Path:
        """The same cache for CV prediction's maps — on the ROI inference cuts around a case's out-of-fold
        pancreas, not the training crop — ``<work_dir>/radiomics/prediction_map_cache``."""
        return self.radiomics / "prediction_map_cache"

    def predictions_dir(self, checkpoint: StudyCheckpoint = "picai") -> Path:
        """Cross-validation predictions root: ``<work_dir>/cv_predictions`` (``cv_predictions_final`` for the final
        checkpoints)."""
        return self.root / f"cv_predictions{_CHECKPOINT_SUFFIX[checkpoint]}"

    def fold_predictions(self, checkpoint: StudyCheckpoint, variant: str, fold: int) -> Path:
        """``<work_dir>/cv_predictions[_final]/<variant>/fold_<k>``: one fold model's predictions of its validation
        cases."""
        return self.predictions_dir(checkpoint) / variant / f"fold_{fold}"

    def snapshot_predictions(self, variant: str, fold: int, checkpoint: str) -> Path:
        """``<work_dir>/checkpoint_selection/<variant>/fold_<k>/<checkpoint stem>``: ``select-checkpoint``'s
        predictions of fold ``fold``'s validation cases by the snapshot ``checkpoint`` (a file name)."""
        return self.root / "checkpoint_selection" / variant / f"fold_{fold}" / Path(checkpoint).stem

    def evaluation_dir(self, checkpoint: StudyCheckpoint = "picai") -> Path:
        """Evaluation output folder: ``<work_dir>/evaluation`` (``evaluation_final`` for the final checkpoints)."""
        return self.root / f"evaluation{_CHECKPOINT_SUFFIX[checkpoint]}"

    def calibration_dir(self, checkpoint: StudyCheckpoint = "picai") -> Path:
        """Likelihood calibration of the CV predictions: ``<work_dir>/calibration`` (``calibration_final`` for the
        final checkpoints); ``<variant>/calibration.json`` in it is what ``export`` ships."""
        return self.root / f"calibration{_CHECKPOINT_SUFFIX[checkpoint]}"

    @property
    def ledger_dir(self) -> Path:
        """The run ledger's folder, ``<work_dir>/experiment/ledger``."""
        return self.root / "experiment" / "ledger"

    @property
    def ledger(self) -> Ledger:
        """The experiment's run ledger (:class:`~pdacrad_train.ledger.Ledger` on :attr:`ledger_dir`)."""
        return Ledger(self.ledger_dir)

    @property
    def tmp(self) -> Path:
        """Scratch folder on the same file system, for writes that finish with an atomic rename."""
        return self.root / "tmp"

    def raw_dataset(self, stage: StageConfig) -> Path:
        """nnU-Net's raw dataset folder of ``stage``: ``<nnUNet_raw>/DatasetXXX_Name``."""
        return self.nnunet_raw / stage.dataset_folder_name

    def preprocessed_dataset(self, stage: StageConfig) -> Path:
        """nnU-Net's preprocessed dataset folder of ``stage``: ``<nnUNet_preprocessed>/DatasetXXX_Name``."""
        return self.nnunet_preprocessed / stage.dataset_folder_name

    def splits_file(self, stage: StageConfig) -> Path:
        """nnU-Net's ``splits_final.json`` of ``stage`` (written by ``splits``)."""
        return self.preprocessed_dataset(stage) / "splits_final.json"

    def splits_report(self, stage: StageConfig) -> Path:
        """What ``stage``'s folds are made of (:func:`pdacrad_train.splits.splits_report`), beside its splits."""
        return self.preprocessed_dataset(stage) / "splits_report.json"

    def model_folder(self, stage: StageConfig, configuration: str = "3d_fullres") -> Path:
        """nnU-Net's trained-model folder ``<results>/<dataset>/<trainer>__<plans>__<configuration>``."""
        return (
            self.nnunet_results
            / stage.dataset_folder_name
            / f"{stage.trainer}__{stage.plans_name}__{configuration}"
        )

    def fold_folder(self, stage: StageConfig, fold: int | str) -> Path:
        """``<nnUNet_results>/<dataset>/<trainer>__<plans>__3d_fullres/fold_<fold>``."""
        return self.model_folder(stage) / f"fold_{fold}"

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
