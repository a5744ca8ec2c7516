"""What nnU-Net finds through ``nnUNet_extTrainer``: pdacrad's trainer variants, re-exported.

nnU-Net imports every module of an extra trainer folder under a top-level name (this file as
``pdacrad_trainers``). Were that folder ``pdacrad/nnunet_ext/variants`` itself, nnU-Net would import
``schedules.py`` a second time as a module of its own, and ``run_training`` would train a *copy* of our classes
(class attributes set at run time, ``isinstance`` and module state would not be shared). Through this one module it
gets the classes of :mod:`pdacrad.nnunet_ext.variants` themselves: every name of
:func:`pdacrad.nnunet_ext.trainer_names.trainer_names`, bound to the class :func:`pdacrad.nnunet_ext.find_trainer`
returns. No ``__init__.py`` here: the folder is not a package of ours.
"""

from pdacrad.nnunet_ext import find_trainer
from pdacrad.nnunet_ext.trainer_names import trainer_names

__all__ = list(trainer_names())
globals().update({name: find_trainer(name) for name in __all__})
