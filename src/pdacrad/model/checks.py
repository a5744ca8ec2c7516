"""Which checkpoint to load, and whether a Stage-2 model folder takes the inputs its ``radiomics.json`` feeds
(the contract described in :mod:`pdacrad.inference.radiomics_inputs`). Reads the model folder's files
(``fold_*/``, ``dataset.json``, ``plans.json``, per-fold settings) and the loaded network; imports nothing of
:mod:`pdacrad.inference`, which calls it.

Checked once, at load, each failure a :class:`~pdacrad.errors.ResourceError` naming both sides:

* input channels: CT + ``map_features`` when ``inputs.maps`` (a ``maps``/``both`` model is a network with map
  channels, plain or radiomics), CT alone otherwise; the channel names 1..N equal ``map_features`` in order;
* map normalisation: with ``map_scaler`` (maps normalised before nnU-Net sees them) the plans' normalisation of
  channels 1..N is ``NoNormalization``; without one (raw maps) it is not, so that nnU-Net still scales them;
* global vector: the network is conditioned on ``len(global_features)`` features when ``inputs.global_vector``
  (``global``/``both``: a RadiomicsUNet) and on none otherwise; where the plans carry a ``pdacrad_radiomics`` block
  it lists ``global_features``, and where a used fold folder holds its own ``global_vectors.json`` (per-fold
  feature selection) so does that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pdacrad.errors import ResourceError
from pdacrad.io.json_files import read_json_object
from pdacrad.model.manifest import RADIOMICS_NAME
from pdacrad.model.map_scaler import NO_NORMALIZATION
from pdacrad.model.radiomics_spec import RadiomicsSpec
from pdacrad.nnunet_ext.checkpoint_selection import BEST_PICAI_CHECKPOINT

if TYPE_CHECKING:  # only a type: pdacrad.inference imports this package, never the reverse
    from pdacrad.inference.predictor import StageModel

#: Key of the plans configuration block written by ``nnUNetTrainerRadiomics`` (kept here as a string so that
#: importing this module does not import nnU-Net).
PLANS_KEY = "pdacrad_radiomics"
#: Per-fold feature names and vectors written by the training tree (format of pdacrad.nnunet_ext.conditioning.global_vectors).
GLOBAL_VECTORS_NAME = "global_vectors.json"


def fold_folders(folder: Path, folds: Sequence[str] | None = None) -> list[Path]:
    """The ``fold_*`` folders of a model folder (numbered folds in order, ``fold_all`` last), or exactly
    ``folds`` (names such as ``fold_2``) in that order.

    Raises:
        ResourceError: a requested fold folder does not exist.
    """
    if folds is not None:
        missing = [f for f in folds if not (folder / f).is_dir()]
        if missing or not folds:
            raise ResourceError(f"model folder {folder} has no fold folder(s) {missing or list(folds)}")
        return [folder / f for f in dict.fromkeys(folds)]
    return sorted(
        (p for p in folder.glob("fold_*") if p.is_dir()),
        key=lambda p: (p.name == "fold_all", int(p.name[5:]) if p.name[5:].isdigit() else 0, p.name),
    )


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
    dataset = read_json_object(info.folder / "dataset.json")
    fed = 1 + (len(spec.map_features) if spec.inputs.maps else 0)
    if info.num_input_channels != fed:
        raise ResourceError(
            f"the Stage-2 model {info.folder} takes {info.num_input_channels} input channels "
            f"(dataset.json channel_names {model_channel_names(dataset)}); {where} (variant {spec.variant}, "
            f"inputs.maps={spec.inputs.maps}, {len(spec.map_features)} map_features) feeds it {fed} "
            "(CT + its map_features when inputs.maps)"
        )
    plans = read_json_object(info.folder / "plans.json")
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


def model_channel_names(dataset_json: Mapping[str, Any]) -> list[str]:
    """``dataset.json`` ``channel_names`` as a list in channel order (keys "0", "1", ...)."""
    names = dataset_json.get("channel_names") or dataset_json.get("modality") or {}
    return [str(names[k]) for k in sorted(names, key=int)]


def check_against_model(
    spec: RadiomicsSpec,
    dataset_json: Mapping[str, Any],
    configuration: Mapping[str, Any],
    fold_dirs: Sequence[Path] = (),
) -> None:
    """Check ``radiomics.json`` (``spec``) against a Stage-2 model folder's files: the map channels 1..N of
    ``dataset.json`` equal ``spec.map_features`` in order when ``spec.inputs.maps`` (and there are none
    otherwise); the plans configuration's ``pdacrad_radiomics`` block, when present, belongs to a model that takes
    the global vector (``spec.inputs.global_vector``) and lists ``spec.global_features`` in order. Where the used
    ``fold_dirs`` record their own settings (``pdacrad_radiomics.json``, written by ``nnUNetTrainerRadiomics``:
    per-fold feature selection, whose folds share one plans.json holding the last-trained fold's list), those are
    checked instead of the plans block (see also :func:`check_fold_global_features`).

    Raises:
        ResourceError: naming both sides, for whichever differs.
    """
    channels = model_channel_names(dataset_json)[1:]
    fed = list(spec.map_features) if spec.inputs.maps else []
    if channels != fed:
        raise ResourceError(
            f"the Stage-2 model's map input channels (dataset.json channel_names 1..) are {channels}, but "
            f"{RADIOMICS_NAME} (variant {spec.variant}, inputs.maps={spec.inputs.maps}) feeds map_features {fed}: "
            "same names in the same order are required; export radiomics.json together with the Stage-2 model it "
            "was trained with"
        )
    _check_map_normalisation(spec, configuration)
    from pdacrad.nnunet_ext.networks.builder import FOLD_SETTINGS_FILENAME, read_fold_settings

    per_fold = [(Path(f), read_fold_settings(f)) for f in fold_dirs]
    sources = [
        (f"{f / FOLD_SETTINGS_FILENAME}", list(s.global_features)) for f, s in per_fold if s is not None
    ]
    block = configuration.get(PLANS_KEY)
    if not sources and isinstance(block, Mapping):
        sources = [(f"the Stage-2 plans' {PLANS_KEY} block", list(block.get("global_features") or []))]
    for where, recorded in sources:
        if not spec.inputs.global_vector:
            raise ResourceError(
                f"{where} lists {len(recorded)} global features (a network conditioned on them) but "
                f"{RADIOMICS_NAME} (variant {spec.variant}) has inputs.global_vector=false"
            )
        if recorded != list(spec.global_features):
            raise ResourceError(
                f"{RADIOMICS_NAME} global_features {list(spec.global_features)} do not match {where} {recorded}: "
                "same names in the same order are required; export radiomics.json together with the Stage-2 "
                "model it was trained with"
            )


def _check_map_normalisation(spec: RadiomicsSpec, configuration: Mapping[str, Any]) -> None:
    """Map channels normalised by ``spec.map_scaler`` must reach the network as they are (``NoNormalization``),
    raw maps must not (see the module docstring). Plans without ``normalization_schemes`` are not checked."""
    schemes = configuration.get("normalization_schemes")
    if not spec.inputs.maps or not isinstance(schemes, list):
        return
    maps = [str(s) for s in schemes[1:]]
    if spec.map_scaler is not None and any(s != NO_NORMALIZATION for s in maps):
        raise ResourceError(
            f"{RADIOMICS_NAME} has a map_scaler (map channels normalised before nnU-Net) but the Stage-2 plans "
            f"normalise the map channels with {maps}; a model fed scaled maps has {NO_NORMALIZATION} there: "
            "export radiomics.json together with the Stage-2 model it was trained with"
        )
    if spec.map_scaler is None and any(s == NO_NORMALIZATION for s in maps):
        raise ResourceError(
            f"the Stage-2 plans leave map channels unnormalised ({maps}) but {RADIOMICS_NAME} has no map_scaler, "
            "so raw maps would reach the network: export the radiomics.json the model was trained with"
        )


def check_fold_global_features(spec: RadiomicsSpec, fold_dirs: Sequence[Path]) -> None:
    """Where a fold folder holds its own ``global_vectors.json`` (per-fold feature selection), its
    ``feature_names`` must equal ``spec.global_features`` in order.

    Raises:
        ResourceError: naming the fold file and both lists.
    """
    for fold in fold_dirs:
        path = Path(fold) / GLOBAL_VECTORS_NAME
        if not path.is_file():
            continue
        names = list(read_json_object(path).get("feature_names") or [])
        if names != list(spec.global_features):
            raise ResourceError(
                f"{path} feature_names {names} do not match {RADIOMICS_NAME} global_features "
                f"{list(spec.global_features)}: use the radiomics.json selected for that fold"
            )


def network_global_features(network: Any) -> int:
    """How many global features a Stage-2 network is conditioned on (0: a plain network, no vector)."""
    if getattr(network, "conditioned_on", None) is None:
        return 0
    return int(getattr(network, "num_global_features", 0) or 0)


def is_radiomics_model(configuration: Mapping[str, Any]) -> bool:
    """Whether a plans configuration belongs to a radiomics Stage 2 (it has the ``pdacrad_radiomics`` block)."""
    return isinstance(configuration.get(PLANS_KEY), Mapping)
