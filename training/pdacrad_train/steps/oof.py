"""``oof``: out-of-fold Stage-1 pancreas masks, each training case's Stage-1 prediction by the fold model that held
it out.

nnU-Net's final validation of Stage-1 fold k writes ``fold_k/validation/<case>.nii.gz`` for fold k's validation
cases, in the raw image's geometry (the full CT: Stage 1's raw images are the cohort's CT files byte for byte).
This step copies them, binarised (any foreground label → 1, uint8), to ``<work_dir>/stage1_oof/<case>.nii.gz`` —
where ``global-features`` and ``maps`` read them — and records in ``stage1_oof/provenance.json`` which fold
predicted each case from which file (sha256), so a retrained fold replaces its masks and nothing else.

Every case needs its mask: the step refuses to write a partial set (a missing fold names the command to run).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from tqdm import tqdm

from pdacrad.errors import InvalidInputError
from pdacrad.io.atomic import atomic_write_image, atomic_write_json
from pdacrad.model.manifest import sha256_file
from pdacrad_train.config import TrainConfig
from pdacrad_train.nnunet_run import is_validated
from pdacrad_train.splits import read_splits
from pdacrad_train.workspace import Workspace

logger = logging.getLogger(__name__)

PROVENANCE = "provenance.json"


def _same_grid(a: sitk.Image, b: sitk.Image) -> bool:
    return (
        a.GetSize() == b.GetSize()
        and np.allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-4)
        and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-3)
        and np.allclose(a.GetDirection(), b.GetDirection(), atol=1e-5)
    )


def collect_oof_masks(config: TrainConfig, ws: Workspace) -> Path:
    """Write ``<work_dir>/stage1_oof/<case>.nii.gz`` for every training case from the Stage-1 folds' validation
    predictions; returns the folder.

    Raises:
        InvalidInputError: a fold is not trained and validated yet, or a prediction is missing.
    """
    splits = read_splits(ws, config.stage1)
    missing = [k for k in range(len(splits)) if not is_validated(ws.fold_folder(config.stage1, k))]
    if missing:
        raise InvalidInputError(
            f"Stage-1 fold(s) {missing} not trained and validated yet; out-of-fold masks need every fold: run "
            f"`pdacrad-train experiment --steps stage1 --folds {','.join(map(str, missing))}`."
        )
    out = ws.stage1_oof
    out.mkdir(parents=True, exist_ok=True)
    provenance_path = out / PROVENANCE
    provenance = json.loads(provenance_path.read_text()) if provenance_path.is_file() else {}
    jobs = [(k, case) for k, split in enumerate(splits) for case in split["val"]]
    written = 0
    for k, case in tqdm(jobs, desc="stage-1 OOF masks", unit="case"):
        source = ws.fold_folder(config.stage1, k) / "validation" / f"{case}.nii.gz"
        if not source.is_file():
            raise InvalidInputError(
                f"{source} missing: rerun Stage-1 fold {k}'s validation (`--steps stage1`)."
            )
        digest = sha256_file(source)
        target = ws.oof_mask(case)
        record = {"fold": k, "source": str(source), "sha256": digest}
        if target.is_file() and provenance.get(case) == record:
            continue
        prediction = sitk.ReadImage(str(source))
        ct = sitk.ReadImage(str(ws.cohort / "imagesTr" / f"{case}_0000.nii.gz"))
        if not _same_grid(prediction, ct):
            raise InvalidInputError(
                f"{source}: not on the grid of the case's CT; Stage 1's raw images must be the CT."
            )
        mask = sitk.Cast(prediction > 0, sitk.sitkUInt8)
        mask.CopyInformation(ct)
        atomic_write_image(mask, target)
        provenance[case] = record
        written += 1
    atomic_write_json(provenance, provenance_path)
    empty = [c for _, c in jobs if not sitk.GetArrayFromImage(sitk.ReadImage(str(ws.oof_mask(c)))).any()]
    if empty:
        logger.warning(
            "Stage 1 found no pancreas in %d training case(s) out of fold: %s", len(empty), empty[:10]
        )
    logger.info("stage-1 OOF masks: %d written, %d unchanged → %s", written, len(jobs) - written, out)
    return out
