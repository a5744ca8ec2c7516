"""The one list of pdacrad's nnU-Net trainer variants, by class name and network, and nnU-Net's look-up of any other.

A trained-model folder records its trainer by class name (``nnUNetTrainerRadiomics__nnUNetPlans__3d_fullres``;
``resources/`` ships such folders), so these names never change. Everything else that names our trainers reads
this module: the inference network builder (:func:`pdacrad.nnunet_ext.networks.builder.build_network`, which must
not import the trainers), the folder nnU-Net's look-up walks
(:mod:`pdacrad.nnunet_ext.variants.nnunet_trainers.pdacrad_trainers`) and
:func:`pdacrad.nnunet_ext.find_trainer`. The classes themselves are in :mod:`pdacrad.nnunet_ext.variants`;
``tests/nnunet_ext/test_trainers.py`` fails when a class and this list disagree. Standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence

from pdacrad.errors import ResourceError

#: Our trainer variants whose network is nnU-Net's plain plans network.
PLAIN_TRAINERS = frozenset(
    {
        "PdacradTrainer",
        "nnUNetTrainerDemo",
        "nnUNetTrainerDemoLong",
        "nnUNetTrainerSmoke",
        "nnUNetTrainerPicai",
        "nnUNetTrainerPicaiDemo",
        "nnUNetTrainerPicaiLong",
        "nnUNetTrainerPicaiSmoke",
        "nnUNetTrainerRehearsal",
        "nnUNetTrainerPicaiRehearsal",
    }
)
#: Our trainer variants whose network is a :class:`~pdacrad.nnunet_ext.networks.radiomics_net.RadiomicsUNet`.
RADIOMICS_TRAINERS = frozenset(
    {
        "nnUNetTrainerRadiomics",
        "nnUNetTrainerRadiomicsDemo",
        "nnUNetTrainerRadiomicsLong",
        "nnUNetTrainerRadiomicsRehearsal",
        "nnUNetTrainerRadiomicsSmoke",
    }
)


def trainer_names() -> Sequence[str]:
    """Every trainer variant of pdacrad (sorted): those the network builder builds without nnU-Net's look-up."""
    return sorted(PLAIN_TRAINERS | RADIOMICS_TRAINERS)


def nnunet_trainer(name: str) -> type:
    """nnU-Net's own look-up of the trainer class called ``name``: nnU-Net's trainer folder, then the folders on
    ``nnUNet_extTrainer``. Imports nnU-Net's training code.

    Raises:
        ResourceError: no trainer of that name exists.
    """
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    try:
        return recursive_find_trainer_class_by_name(name)
    except RuntimeError as error:
        raise ResourceError(
            f"Unknown nnU-Net trainer {name!r}: neither one of pdacrad's "
            "(pdacrad.nnunet_ext.trainer_names) nor in nnunetv2."
        ) from error
