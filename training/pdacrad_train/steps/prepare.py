"""``prepare``: ``convert`` (a PANORAMA-layout cohort → the two nnU-Net v2 raw datasets) and ``splits`` (the
cross-validation folds as nnU-Net ``splits_final.json`` for both stages, :mod:`pdacrad_train.splits`).

``convert``:

* Stage 1: the whole CT (a hard link to the cohort's file; a copy where links fail), label = pancreas incl. tumour
  and duct (PANORAMA labels 1, 4, 5 → 1). Its plans resample to a low target spacing, so at inference the
  full-resolution CT goes in as-is.
* Stage 2: CT and labels 0–6 cropped around the pancreas with margins in mm (x 100, y 50, z 15 by default),
  clipped to the image, geometry kept. For training the crop comes from the **ground-truth** pancreas, as in
  the PANORAMA baseline; inference crops around the largest component of the Stage-1 prediction with the same
  :func:`pdacrad.preprocessing.roi_from_mask`. The ground truth is used so that Stage 2 trains on every case
  even where a weak Stage 1 would miss the pancreas; the margins are wide enough that the small difference in
  box placement does not matter to a fully convolutional Stage 2.

Each case is written atomically and skipped when already present, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from tqdm import tqdm

from pdacrad.errors import InvalidInputError
from pdacrad.labels import PANCREAS_LABELS, PANORAMA_LABELS, STAGE1_LABELS
from pdacrad.preprocessing import roi_from_mask
from pdacrad_train.config import TrainConfig
from pdacrad_train.files import place
from pdacrad_train.ledger import Ledger
from pdacrad_train.splits import folds_from_config, nnunet_splits, splits_report
from pdacrad_train.units import prepare_units
from pdacrad_train.workspace import Workspace

logger = logging.getLogger(__name__)

CASES_COLUMNS = ["case", "label", "lesion_voxels", "roi_index_xyz", "roi_size_xyz"]


def prepare_cohort(config: TrainConfig, ws: Workspace) -> Path:
    """The cohort folder; for ``cohort.source: synth`` generates it first (skipped when ``cases.csv`` exists)."""
    cohort = config.cohort
    if cohort.source == "synth" and not (ws.cohort / "cases.csv").is_file():
        from pdacrad.synth import ConfounderRates, LesionMix, generate_cohort

        logger.info("Generating %d synthetic cases (seed %d) into %s", cohort.n, cohort.seed, ws.cohort)
        generate_cohort(
            ws.cohort,
            cohort.n,
            seed=cohort.seed,
            positive_fraction=cohort.positive_fraction,
            texture_fraction=cohort.texture_fraction,  # None and no lesion_mix: generate_cohort's 50/50 default
            lesion_mix=None if cohort.lesion_mix is None else LesionMix.parse(cohort.lesion_mix),
            confounders=ConfounderRates.parse(cohort.confounders),
            lesion_diameter_mm=cohort.lesion_diameter_mm,
            balanced_sizes=cohort.balanced_sizes,
            size_xyz=cohort.size_xyz,
            progress=True,
        )
    if not (ws.cohort / "imagesTr").is_dir() or not (ws.cohort / "labelsTr").is_dir():
        raise InvalidInputError(
            f"{ws.cohort}: expected PANORAMA layout with imagesTr/ and labelsTr/ folders."
        )
    return ws.cohort


def list_cases(cohort: Path) -> list[str]:
    """Case ids of a PANORAMA-layout folder (``imagesTr/<case>_0000.nii.gz`` with ``labelsTr/<case>.nii.gz``).

    Raises:
        InvalidInputError: no case, or an image without its label.
    """
    cases = sorted(p.name[: -len("_0000.nii.gz")] for p in (cohort / "imagesTr").glob("*_0000.nii.gz"))
    if not cases:
        raise InvalidInputError(f"{cohort / 'imagesTr'}: no <case>_0000.nii.gz images found.")
    missing = [c for c in cases if not (cohort / "labelsTr" / f"{c}.nii.gz").is_file()]
    if missing:
        raise InvalidInputError(f"{cohort / 'labelsTr'}: no label for case(s) {', '.join(missing[:5])}.")
    return cases


def _write_atomic(image: sitk.Image, target: Path, tmp: Path) -> None:
    tmp.mkdir(parents=True, exist_ok=True)
    part = tmp / target.name
    sitk.WriteImage(image, str(part), useCompression=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, target)


def _label_image(array_zyx: np.ndarray, reference: sitk.Image) -> sitk.Image:
    image = sitk.GetImageFromArray(array_zyx.astype(np.uint8))
    image.CopyInformation(reference)
    return image


def _write_dataset_json(folder: Path, labels: dict[str, int], n_training: int, description: str) -> None:
    dataset = {
        "channel_names": {"0": "CT"},
        "labels": labels,
        "numTraining": n_training,
        "file_ending": ".nii.gz",
        "description": description,
    }
    (folder / "dataset.json").write_text(json.dumps(dataset, indent=2))


def convert_case(case: str, cohort: Path, config: TrainConfig, ws: Workspace) -> dict:
    """Write one case into both raw datasets (skipping files already there); returns its cases-table row."""
    stage1, stage2 = ws.raw_dataset(config.stage1), ws.raw_dataset(config.stage2)
    image_path = cohort / "imagesTr" / f"{case}_0000.nii.gz"
    label = sitk.ReadImage(str(cohort / "labelsTr" / f"{case}.nii.gz"))
    label_zyx = sitk.GetArrayFromImage(label)
    if label_zyx.max() > 6 or label_zyx.min() < 0:
        raise InvalidInputError(f"{case}: label values must be 0–6 (PANORAMA), found {np.unique(label_zyx)}.")
    pancreas_zyx = np.isin(label_zyx, PANCREAS_LABELS)
    pancreas = _label_image(pancreas_zyx, label)
    if not pancreas_zyx.any():
        raise InvalidInputError(f"{case}: the label has no pancreas (labels 1, 4, 5); cannot crop Stage 2.")
    roi = roi_from_mask(pancreas, config.stage2.margins_mm_xyz)

    # The Stage-1 input is the original file, hard-linked (copied where links fail): nnU-Net's preprocessing
    # resamples it.
    place(image_path, stage1 / "imagesTr" / f"{case}_0000.nii.gz", ws.tmp)
    s1_label = stage1 / "labelsTr" / f"{case}.nii.gz"
    if not s1_label.is_file():
        _write_atomic(pancreas, s1_label, ws.tmp)
    s2_image = stage2 / "imagesTr" / f"{case}_0000.nii.gz"
    if not s2_image.is_file():
        _write_atomic(roi.crop(sitk.ReadImage(str(image_path))), s2_image, ws.tmp)
    s2_label = stage2 / "labelsTr" / f"{case}.nii.gz"
    if not s2_label.is_file():
        _write_atomic(roi.crop(label), s2_label, ws.tmp)
    lesion_voxels = int(np.count_nonzero(label_zyx == 1))
    return {
        "case": case,
        "label": int(lesion_voxels > 0),
        "lesion_voxels": lesion_voxels,
        "roi_index_xyz": " ".join(map(str, roi.index)),
        "roi_size_xyz": " ".join(map(str, roi.size)),
    }


def convert(config: TrainConfig, ws: Workspace, progress: bool = True) -> pd.DataFrame:
    """Run the ``convert`` step: both raw datasets, their ``dataset.json`` and ``<work_dir>/cases.csv``."""
    cohort = prepare_cohort(config, ws)
    cases = list_cases(cohort)
    ws.root.mkdir(parents=True, exist_ok=True)
    rows = [
        convert_case(case, cohort, config, ws)
        for case in tqdm(cases, desc="convert", unit="case", disable=not progress)
    ]
    _write_dataset_json(
        ws.raw_dataset(config.stage1),
        STAGE1_LABELS,
        len(cases),
        "pdacrad Stage 1: whole CT, pancreas incl. tumour and duct (PANORAMA labels 1, 4, 5).",
    )
    _write_dataset_json(
        ws.raw_dataset(config.stage2),
        PANORAMA_LABELS,
        len(cases),
        f"pdacrad Stage 2: CT and PANORAMA labels 0–6 cropped around the ground-truth pancreas with margins "
        f"(x, y, z) {config.stage2.margins_mm_xyz} mm.",
    )
    table = pd.DataFrame(rows, columns=CASES_COLUMNS)
    table.to_csv(ws.cases_table, index=False)
    logger.info("Converted %d cases (%d positive) → %s", len(table), int(table["label"].sum()), ws.nnunet_raw)
    return table


def write_splits(config: TrainConfig, ws: Workspace) -> dict[str, Path]:
    """Run the ``splits`` step: ``splits_final.json`` in each stage's nnUNet_preprocessed dataset folder, and
    beside it ``splits_report.json`` (sizes, lesion-size bins and the patients split across folds per fold).

    Stage 1 and Stage 2 share the case ids and (with ``source: stratified``) the folds, so that a case never
    validates one stage while training the other. Folds that put one patient's studies in several folds (the
    baseline's files, or ``group_by: case``) are logged as a warning naming the patients.
    """
    if not ws.cases_table.is_file():
        raise InvalidInputError(f"{ws.cases_table} not found: run `pdacrad-train convert` first.")
    table = pd.read_csv(ws.cases_table, dtype={"case": str})
    s = config.splits
    written = {}
    for key, stage, baseline in (
        ("stage1", config.stage1, s.baseline_stage1),
        ("stage2", config.stage2, s.baseline_stage2),
    ):
        folds = folds_from_config(s, table, baseline)
        report = splits_report(folds, table, s, baseline)
        target = ws.splits_file(stage)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(nnunet_splits(folds), indent=2))
        ws.splits_report(stage).write_text(json.dumps(report, indent=2))
        logger.info("%s: %d folds of sizes %s → %s", key, len(folds), [len(f) for f in folds], target)
        if report["split_patients"]:
            logger.warning(
                "%s: the folds (%s) put studies of %d of %d patients with several studies in more than one fold, "
                "so a patient validates while training: %s. Patient-grouped folds: splits.source: stratified, "
                "group_by: patient. Listed in %s.",
                key,
                f"baseline {baseline}" if s.source == "baseline" else "group_by: case",
                report["n_split_patients"],
                report["n_patients_with_several_studies"],
                ", ".join(
                    f"{p} (folds {'/'.join(map(str, ks))})" for p, ks in report["split_patients"].items()
                ),
                ws.splits_report(stage),
            )
        written[key] = target
    return written


def run_prepare(config: TrainConfig, ws: Workspace, ledger: Ledger) -> None:
    """The experiment's ``prepare`` step: ``convert`` and ``splits``, each a ledger unit."""
    convert_unit, splits_unit = prepare_units()
    ledger.run(convert_unit.name, lambda: convert(config, ws), complete=ws.cases_table.is_file)
    ledger.run(
        splits_unit.name,
        lambda: write_splits(config, ws),
        complete=ws.splits_file(config.stage2).is_file,
    )
