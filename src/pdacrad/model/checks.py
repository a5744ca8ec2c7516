"""Which checkpoint to load, and whether a Stage-2 model folder takes the inputs its ``radiomics.json`` feeds.

Checked once, at load, each failure a :class:`~pdacrad.errors.ResourceError` naming both sides:

* input channels: CT + ``map_features`` when ``inputs.maps`` (a ``maps``/``both`` model is a network with map
  channels, plain or radiomics), CT alone otherwise; the channel names 1..N equal ``map_features`` in order;
* global vector: the network is conditioned on ``len(global_features)`` features when ``inputs.global_vector``
  (``global``/``both``: a RadiomicsUNet) and on none otherwise; where the plans carry a ``pdacrad_radiomics`` block
  it lists ``global_features``, and where a used fold folder holds its own ``global_vectors.json`` (per-fold
  feature selection) so does that.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pdacrad.errors import ResourceError
from pdacrad.inference.predictor import StageModel, fold_folders
from pdacrad.inference.radiomics_inputs import (
    check_against_model,
    check_fold_global_features,
    model_channel_names,
    network_global_features,
)
from pdacrad.model.radiomics_spec import RadiomicsSpec
from pdacrad.nnunet_ext.picai_selection import BEST_PICAI_CHECKPOINT


def checkpoint_names(
    folder: Path, folds: Sequence[str] | None, configured: Sequence[str], prefer_picai: bool = True
) -> tuple[str, ...]:
    """Checkpoint names to try per fold: ``checkpoint_best_picai.pth`` first when ``prefer_picai`` and every used
    fold folder (with a checkpoint) has it, then ``configured``."""
    if not prefer_picai:
        return tuple(configured)
    used = [f for f in fold_folders(Path(folder), folds) if any(f.glob("checkpoint_*.pth"))]
    picai = bool(used) and all((f / BEST_PICAI_CHECKPOINT).is_file() for f in used)
    return tuple(dict.fromkeys(([BEST_PICAI_CHECKPOINT] if picai else []) + list(configured)))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (OSError, json.JSONDecodeError) as exc:
        raise ResourceError(f"cannot read {path}: {exc}") from exc


def check_stage2_model(model: StageModel, spec: RadiomicsSpec, where: str | None) -> None:
    """Check a loaded Stage-2 model against ``spec`` (read from ``where``; ``None``: no radiomics.json, ``spec`` is
    the plain CT model's); see the module docstring.

    Raises:
        ResourceError: naming the model's side and ``radiomics.json``'s side of the first mismatch.
    """
    if where is not None:
        _check(model, spec, where)
        return
    try:
        _check(model, spec, "the default (no radiomics.json: a plain CT model)")
    except ResourceError as error:
        raise ResourceError(f"{error}; radiomics.json is missing: export it with the model") from None


def _check(model: StageModel, spec: RadiomicsSpec, where: str) -> None:
    info = model.info
    dataset = _read_json(info.folder / "dataset.json")
    fed = 1 + (len(spec.map_features) if spec.inputs.maps else 0)
    if info.num_input_channels != fed:
        raise ResourceError(
            f"the Stage-2 model {info.folder} takes {info.num_input_channels} input channels "
            f"(dataset.json channel_names {model_channel_names(dataset)}); {where} (variant {spec.variant}, "
            f"inputs.maps={spec.inputs.maps}, {len(spec.map_features)} map_features) feeds it {fed} "
            "(CT + its map_features when inputs.maps)"
        )
    plans = _read_json(info.folder / "plans.json")
    configuration = dict((plans.get("configurations") or {}).get(info.configuration) or {})
    try:
        check_against_model(spec, dataset, configuration, [info.folder / f for f in info.folds])
    except ResourceError as error:
        raise ResourceError(f"{info.folder} vs {where}: {error}") from None
    n_global = network_global_features(model.network)
    wanted = len(spec.global_features) if spec.inputs.global_vector else 0
    if n_global != wanted:
        raise ResourceError(
            f"the Stage-2 network of {info.folder} ({info.trainer_name}, {type(model.network).__name__}) is "
            f"conditioned on {n_global} global feature(s); {where} (variant {spec.variant}, "
            f"inputs.global_vector={spec.inputs.global_vector}) feeds {wanted}"
        )
    if spec.inputs.global_vector:
        check_fold_global_features(spec, [info.folder / f for f in info.folds])
