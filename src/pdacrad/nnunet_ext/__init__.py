"""nnU-Net v2 extensions: trainer variants, the radiomics-conditioned Stage-2 network, and a network builder for
inference that imports no training code (:func:`build_network`, :mod:`pdacrad.nnunet_ext.networks.builder`).

A trained-model folder records its trainer by class name (``nnUNetTrainerDemo__nnUNetPlans__3d_fullres``);
nnU-Net looks that name up in its own trainer folder first and then in the folders listed in the
``nnUNet_extTrainer`` environment variable. :func:`register_trainers` adds this package's folder to that list,
so that ``nnUNetPredictor.initialize_from_trained_model_folder`` and ``nnunetv2.run.run_training.run_training``
find our variants without patching nnU-Net. For nnU-Net's command line, export the folder yourself::

    export nnUNet_extTrainer="$(python -c 'import pdacrad.nnunet_ext as m; print(m.TRAINER_DIR)')"
    nnUNetv2_train <dataset> 3d_fullres <fold> -tr nnUNetTrainerRadiomics [--c | --val] [-num_gpus N]
"""

from __future__ import annotations

import os
from pathlib import Path

from pdacrad.nnunet_ext.networks.builder import build_network
from pdacrad.nnunet_ext.trainer_names import nnunet_trainer

#: nnU-Net's environment variable listing extra trainer folders.
EXT_TRAINER_ENV = "nnUNet_extTrainer"
#: The value to put on ``nnUNet_extTrainer``: a folder whose one module re-exports our trainer classes (see
#: :mod:`pdacrad.nnunet_ext.variants.nnunet_trainers.pdacrad_trainers` for why not this package's own folder).
TRAINER_DIR: Path = Path(__file__).resolve().parent / "variants" / "nnunet_trainers"


def register_trainers() -> None:
    """Append :data:`TRAINER_DIR` to the ``nnUNet_extTrainer`` search path (idempotent; keeps other entries)."""
    current = [p for p in os.environ.get(EXT_TRAINER_ENV, "").split(os.pathsep) if p]
    if str(TRAINER_DIR) not in current:
        os.environ[EXT_TRAINER_ENV] = os.pathsep.join([*current, str(TRAINER_DIR)])


def find_trainer(name: str) -> type:
    """The nnU-Net trainer class called ``name``: one of ours (:mod:`pdacrad.nnunet_ext.variants`, named in
    :mod:`pdacrad.nnunet_ext.trainer_names`) or one of nnU-Net's own (``nnUNetTrainer``, ``nnUNetTrainer_5epochs``,
    ...). Imports nnU-Net's training code; inference builds networks with :func:`build_network` instead.

    Raises:
        ResourceError: no trainer of that name exists.
    """
    from pdacrad.nnunet_ext.variants import picai, radiomics, schedules

    for module in (schedules, picai, radiomics):
        ours = getattr(module, name, None)
        if isinstance(ours, type):
            return ours
    return nnunet_trainer(name)


__all__ = ["EXT_TRAINER_ENV", "TRAINER_DIR", "build_network", "find_trainer", "register_trainers"]
