"""``export``: the trained Stage-1 and Stage-2 model folders → ``resources/`` (SPEC layout) + ``manifest.json``.

Each ``resources/stageN/`` is a minimal nnU-Net v2 trained-model folder: ``dataset.json``, ``plans.json`` and
``fold_<f>/checkpoint_final.pth`` (or ``checkpoint_best.pth``). Checkpoints are rewritten without the optimizer
and grad-scaler state, which inference never reads (it halves the file); the trainer name, init args, network
weights and mirroring axes that ``nnUNetPredictor.initialize_from_trained_model_folder`` needs are kept.
A radiomics Stage 2 brings ``select``'s ``radiomics.json`` along (checked against the model); other files
already in ``resources/`` are left in place and listed in the manifest too.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from pdacrad.errors import InvalidInputError
from pdacrad.resources import STAGE1_DIRNAME, STAGE2_DIRNAME, ResourceManifest, write_manifest
from pdacrad_train.config import StageConfig, TrainConfig
from pdacrad_train.workspace import Workspace

logger = logging.getLogger(__name__)

#: Checkpoint entries inference does not read.
_TRAINING_ONLY_KEYS = ("optimizer_state", "grad_scaler_state")


def strip_checkpoint(source: Path, target: Path) -> None:
    """Copy an nnU-Net checkpoint without its optimizer / grad-scaler state."""
    import torch

    checkpoint = torch.load(source, map_location="cpu", weights_only=False)
    for key in _TRAINING_ONLY_KEYS:
        checkpoint.pop(key, None)
    torch.save(checkpoint, target)


def export_stage(stage: StageConfig, ws: Workspace, target: Path, checkpoint: str) -> None:
    """Copy one trained-model folder's inference files into ``target`` (replacing what was there)."""
    source = ws.model_folder(stage)
    fold = f"fold_{stage.fold}"
    needed = [source / "dataset.json", source / "plans.json", source / fold / checkpoint]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise InvalidInputError(
            f"Cannot export {stage.dataset_folder_name}: missing {', '.join(missing)}; run fit."
        )
    if target.exists():
        shutil.rmtree(target)
    (target / fold).mkdir(parents=True)
    for name in ("dataset.json", "plans.json"):
        shutil.copyfile(source / name, target / name)
    strip_checkpoint(source / fold / checkpoint, target / fold / checkpoint)


def export(config: TrainConfig, ws: Workspace, out_dir: Path | None = None) -> ResourceManifest:
    """Run the ``export`` step; returns the written manifest."""
    out = Path(out_dir or config.export.dir)
    out.mkdir(parents=True, exist_ok=True)
    export_stage(config.stage1, ws, out / STAGE1_DIRNAME, config.export.checkpoint)
    export_stage(config.stage2, ws, out / STAGE2_DIRNAME, config.export.checkpoint)
    export_radiomics(ws, out)
    trained_on = config.export.trained_on or (
        f"synthetic phantoms from `pdacrad synth` (seed {config.cohort.seed}, n {config.cohort.n})"
        if config.cohort.source == "synth"
        else f"cases of {config.cohort.path}"
    )
    manifest = write_manifest(
        out, demo=config.export.demo, trained_on=trained_on, training_config=_relative_config(config.source)
    )
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    logger.info("Exported %d files, %.2f MB → %s", len(manifest.files) + 1, size / 1e6, out)
    return manifest


def export_radiomics(ws: Workspace, out: Path) -> None:
    """For a radiomics Stage 2 (plans with a ``pdacrad_radiomics`` block): copy ``select``'s ``radiomics.json``
    into ``out``, checked against the exported model (map channels, global features) as inference checks it."""
    import json

    from pdacrad.inference.radiomics_inputs import check_against_model, is_radiomics_model
    from pdacrad.radiomics_spec import RadiomicsSpec
    from pdacrad.resources import RADIOMICS_NAME

    stage2 = out / STAGE2_DIRNAME
    configuration = json.loads((stage2 / "plans.json").read_text())["configurations"]["3d_fullres"]
    if not is_radiomics_model(configuration):
        return
    source = ws.root / "radiomics" / RADIOMICS_NAME
    if not source.is_file():
        raise InvalidInputError(f"the Stage-2 model takes radiomics but {source} is missing; run `select`.")
    spec = RadiomicsSpec.load(source)
    check_against_model(spec, json.loads((stage2 / "dataset.json").read_text()), configuration)
    spec.save(out / RADIOMICS_NAME)


def _relative_config(source: str) -> str:
    """The config path as written in the manifest: relative to the current folder when inside it."""
    path = Path(source).resolve()
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()
