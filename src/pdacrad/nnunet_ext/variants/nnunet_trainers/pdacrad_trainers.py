"""What nnU-Net finds through ``nnUNet_extTrainer``: pdacrad's trainer variants, re-exported.

nnU-Net imports every module of an extra trainer folder under a top-level name (this file as
``pdacrad_trainers``). Were that folder ``pdacrad/nnunet_ext`` itself, nnU-Net would import ``trainers.py`` a second
time as a module of its own, and ``run_training`` would train a *copy* of our classes (class attributes set at run
time, ``isinstance`` and module state would not be shared). Through this one module it gets the classes of
:mod:`pdacrad.nnunet_ext` themselves. No ``__init__.py`` here: the folder is not a package of ours.
"""

from pdacrad.nnunet_ext.variants.picai import (
    nnUNetTrainerPicai,
    nnUNetTrainerPicaiDemo,
    nnUNetTrainerPicaiSmoke,
)
from pdacrad.nnunet_ext.variants.radiomics import (
    nnUNetTrainerRadiomics,
    nnUNetTrainerRadiomicsDemo,
    nnUNetTrainerRadiomicsSmoke,
)
from pdacrad.nnunet_ext.variants.schedules import (
    PdacradTrainer,
    nnUNetTrainerDemo,
    nnUNetTrainerDemoLong,
    nnUNetTrainerSmoke,
)

__all__ = [
    "PdacradTrainer",
    "nnUNetTrainerDemo",
    "nnUNetTrainerDemoLong",
    "nnUNetTrainerPicai",
    "nnUNetTrainerPicaiDemo",
    "nnUNetTrainerPicaiSmoke",
    "nnUNetTrainerRadiomics",
    "nnUNetTrainerRadiomicsDemo",
    "nnUNetTrainerRadiomicsSmoke",
    "nnUNetTrainerSmoke",
]
