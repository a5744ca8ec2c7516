"""nnU-Net v2 extensions for pdacrad's two stages, laid out like nnU-Net's ``training/nnUNetTrainer/variants/``.

Layout (what each part is for, and what it may import):

* ``variants/`` — the trainer variants, each overriding what it says and nothing else (they import nnU-Net's
  training stack): :mod:`~pdacrad.nnunet_ext.variants.schedules` (:class:`PdacradTrainer`, schedule from class
  constants and our data loader; the Stage-1 schedules ``nnUNetTrainerDemo``, ``nnUNetTrainerDemoLong``,
  ``nnUNetTrainerSmoke``), :mod:`~pdacrad.nnunet_ext.variants.picai` (``nnUNetTrainerPicai``: PI-CAI checkpoint
  selection, and the Stage-2 schedules), :mod:`~pdacrad.nnunet_ext.variants.radiomics` (``nnUNetTrainerRadiomics``:
  the network conditioned on the global vector), and ``variants/nnunet_trainers/``, the folder nnU-Net's trainer
  look-up walks (:data:`TRAINER_DIR`).
* ``networks/`` — the networks, buildable at inference without training code:
  :mod:`~pdacrad.nnunet_ext.networks.builder` (:func:`build_network` by trainer name, the per-fold radiomics
  settings) and :mod:`~pdacrad.nnunet_ext.networks.radiomics_net` (``RadiomicsUNet``: nnU-Net's U-Net with
  cross-attention to the global vector at the bottleneck).
* ``conditioning/`` — the per-case global radiomics vector on its way into training:
  :mod:`~pdacrad.nnunet_ext.conditioning.global_vectors` (the ``global_vectors.json`` file),
  :mod:`~pdacrad.nnunet_ext.conditioning.data_loading` (batches carry the vector; lesion-focused patches),
  :mod:`~pdacrad.nnunet_ext.conditioning.case_vectors` (nnU-Net's final validation, one case at a time); the
  training and validation steps are nnU-Net's own, run inside ``RadiomicsUNet.conditioned_per_sample``.
* :mod:`~pdacrad.nnunet_ext.trainer_names` — the one list of our trainer names and the network each builds.
* :mod:`~pdacrad.nnunet_ext.checkpoint_selection` — the PI-CAI score, its history file and the checkpoint names
  (read by inference and the training tree).

Inference imports only this package's top, ``networks/``, ``trainer_names`` and ``checkpoint_selection``; none of
them imports ``variants/`` or nnU-Net's training code (``tests/nnunet_ext/test_network.py`` checks it).

A trained-model folder records its trainer by class name (``nnUNetTrainerDemo__nnUNetPlans__3d_fullres``);
nnU-Net looks that name up in its own trainer folder first and then in the folders listed in the
``nnUNet_extTrainer`` environment variable. :func:`register_trainers` adds our folder to that list,
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
