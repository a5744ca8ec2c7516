"""Build a trained model's network at inference without importing any training code.

nnU-Net rebuilds a network through the trainer class named in the checkpoint
(``trainer_class.build_network_architecture(...)``), which imports nnU-Net's whole training stack (data loaders,
augmentation, losses) and our trainer variants. :func:`build_network` does the same for our trainer names
(:mod:`pdacrad.nnunet_ext.trainer_names`) with only nnU-Net's network builder (``get_network_from_plans``) and
:mod:`pdacrad.nnunet_ext.networks.radiomics_net`; any other name falls back to nnU-Net's trainer look-up.

**Radiomics settings per fold.** Per-fold feature selection gives each fold of a Stage-2 model its own feature
list and scaler (its own ``global_vectors.json``), while nnU-Net keeps one ``plans.json`` per model folder. So:

* ``fold_<k>/pdacrad_radiomics.json`` (:data:`FOLD_SETTINGS_FILENAME`, written by ``nnUNetTrainerRadiomics`` when
  fold ``k`` starts training) is the authority for fold ``k``: its global feature names (vector order) and the
  attention settings; the network's number of global features is the length of that list.
* ``plans.json``'s ``"pdacrad_radiomics"`` block (:data:`PLANS_KEY`) holds the same settings of the fold trained
  last. It is what nnU-Net's own predictor sees (``build_network_architecture`` is static and gets only the
  plans), so nnU-Net's fold ensemble works when every fold has the same number of features; where folds differ,
  :func:`build_network` with ``fold_folder`` builds each fold's network, and a wrong size fails loudly when the
  checkpoint's weights are loaded (shape mismatch), never silently.

:func:`radiomics_settings` reads the fold file when given a fold folder that has one, else the plans block (model
folders trained before the fold file existed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from pdacrad.errors import ResourceError
from pdacrad.io.json_files import read_json_object
from pdacrad.nnunet_ext.trainer_names import PLAIN_TRAINERS, RADIOMICS_TRAINERS, nnunet_trainer

#: Key of the configuration in plans.json that holds the radiomics settings of the network.
PLANS_KEY = "pdacrad_radiomics"
#: Per-fold radiomics settings, in ``<model folder>/fold_<k>/``.
FOLD_SETTINGS_FILENAME = "pdacrad_radiomics.json"
FOLD_SETTINGS_VERSION = 1


@dataclass(frozen=True)
class RadiomicsNetworkSettings:
    """What a RadiomicsUNet needs beyond the plans.

    Attributes:
        global_features: the ``F`` global feature names, in vector order.
        attention_heads: attention heads at the bottleneck (None: the default for the bottleneck's channels).
        attention_tokens: query tokens projected from the vector.
    """

    global_features: tuple[str, ...]
    attention_heads: int | None = None
    attention_tokens: int = 1

    @property
    def num_global_features(self) -> int:
        """``F``, the length of the global vector."""
        return len(self.global_features)

    def as_dict(self) -> dict:
        """The JSON form used in plans.json and the fold file."""
        return {
            "global_features": list(self.global_features),
            "attention_heads": self.attention_heads,
            "attention_tokens": self.attention_tokens,
        }

    @classmethod
    def from_mapping(cls, block: Mapping, where: str) -> RadiomicsNetworkSettings:
        """Parse a plans block or fold file.

        Raises:
            ResourceError: ``global_features`` is missing or not a list of strings.
        """
        names = block.get("global_features")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ResourceError(f"{where}: no 'global_features' list of feature names")
        heads = block.get("attention_heads")
        return cls(
            global_features=tuple(names),
            attention_heads=None if heads is None else int(heads),
            attention_tokens=int(block.get("attention_tokens", 1)),
        )


def write_fold_settings(
    fold_folder: str | Path, settings: RadiomicsNetworkSettings, trainer_name: str
) -> Path:
    """Write ``fold_folder/pdacrad_radiomics.json`` (atomically); returns its path."""
    path = Path(fold_folder) / FOLD_SETTINGS_FILENAME
    payload = {"format_version": FOLD_SETTINGS_VERSION, "trainer": trainer_name, **settings.as_dict()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(path)
    return path


def read_fold_settings(fold_folder: str | Path) -> RadiomicsNetworkSettings | None:
    """The settings in ``fold_folder/pdacrad_radiomics.json``, or None when there is no such file.

    Raises:
        ResourceError: the file is not valid JSON or has the wrong format.
    """
    path = Path(fold_folder) / FOLD_SETTINGS_FILENAME
    if not path.is_file():
        return None
    payload = read_json_object(path)
    if payload.get("format_version") != FOLD_SETTINGS_VERSION:
        raise ResourceError(f"{path}: expected format_version {FOLD_SETTINGS_VERSION}")
    return RadiomicsNetworkSettings.from_mapping(payload, str(path))


def radiomics_settings(
    configuration: Mapping, fold_folder: str | Path | None = None
) -> RadiomicsNetworkSettings:
    """The radiomics settings of one fold: ``fold_folder``'s :data:`FOLD_SETTINGS_FILENAME` when present, else the
    plans configuration's :data:`PLANS_KEY` block.

    Raises:
        ResourceError: neither holds settings (the model was not trained with ``nnUNetTrainerRadiomics``).
    """
    if fold_folder is not None:
        settings = read_fold_settings(fold_folder)
        if settings is not None:
            return settings
    block = configuration.get(PLANS_KEY)
    if not isinstance(block, Mapping):
        raise ResourceError(
            f"The nnU-Net plans have no {PLANS_KEY!r} block with 'global_features'"
            + ("" if fold_folder is None else f" and {fold_folder} has no {FOLD_SETTINGS_FILENAME}")
            + ": this model folder was not trained with nnUNetTrainerRadiomics (or its plans.json was replaced)."
        )
    return RadiomicsNetworkSettings.from_mapping(block, f"plans.json {PLANS_KEY!r}")


def build_plain_network(
    configuration_manager: Any, num_input_channels: int, num_output_channels: int, deep_supervision: bool
) -> nn.Module:
    """nnU-Net's plans network (what ``nnUNetTrainer.build_network_architecture`` builds)."""
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

    return get_network_from_plans(
        configuration_manager.network_arch_class_name,
        configuration_manager.network_arch_init_kwargs,
        configuration_manager.network_arch_init_kwargs_req_import,
        num_input_channels,
        num_output_channels,
        allow_init=True,
        deep_supervision=deep_supervision,
    )


def build_radiomics_network(
    configuration_manager: Any,
    num_input_channels: int,
    num_output_channels: int,
    settings: RadiomicsNetworkSettings,
    deep_supervision: bool,
) -> nn.Module:
    """The plans network (input channels = CT + maps) wrapped in a RadiomicsUNet with ``settings``."""
    from pdacrad.nnunet_ext.networks.radiomics_net import build_radiomics_unet

    return build_radiomics_unet(
        configuration_manager.network_arch_class_name,
        configuration_manager.network_arch_init_kwargs,
        configuration_manager.network_arch_init_kwargs_req_import,
        num_input_channels,
        num_output_channels,
        num_global_features=settings.num_global_features,
        deep_supervision=deep_supervision,
        num_heads=settings.attention_heads,
        num_tokens=settings.attention_tokens,
    )


def build_network(
    trainer_name: str,
    plans_manager: Any,
    configuration_manager: Any,
    num_input_channels: int,
    num_output_channels: int,
    fold_folder: str | Path | None = None,
    deep_supervision: bool = False,
) -> nn.Module:
    """The network of a model trained with ``trainer_name``, untrained (load the checkpoint's weights after).

    Our plain trainers (:data:`~pdacrad.nnunet_ext.trainer_names.PLAIN_TRAINERS`) → nnU-Net's plans network; our
    radiomics trainers (:data:`~pdacrad.nnunet_ext.trainer_names.RADIOMICS_TRAINERS`) → RadiomicsUNet sized by :func:`radiomics_settings` of ``fold_folder`` (pass the
    fold whose weights will be loaded); any other name → nnU-Net's trainer look-up and that trainer's static
    ``build_network_architecture`` (this path imports nnU-Net's training code).

    Raises:
        ResourceError: unknown trainer name, a trainer with nnU-Net's old ``build_network_architecture``
            signature, or a radiomics trainer without recorded settings.
    """
    if trainer_name in PLAIN_TRAINERS:
        return build_plain_network(
            configuration_manager, num_input_channels, num_output_channels, deep_supervision
        )
    if trainer_name in RADIOMICS_TRAINERS:
        settings = radiomics_settings(configuration_manager.configuration, fold_folder)
        return build_radiomics_network(
            configuration_manager, num_input_channels, num_output_channels, settings, deep_supervision
        )
    import inspect

    trainer_class: Any = nnunet_trainer(trainer_name)
    build = getattr(trainer_class, "build_network_architecture", None)
    if build is None or "plans_manager" not in inspect.signature(build).parameters:
        raise ResourceError(f"trainer {trainer_name} uses nnU-Net's old build_network_architecture signature")
    return build(
        plans_manager, configuration_manager, num_input_channels, num_output_channels, deep_supervision
    )
