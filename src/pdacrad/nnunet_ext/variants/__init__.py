"""The trainer variants (nnU-Net's ``nnUNetTrainer`` subclasses); they import nnU-Net's training stack.

:mod:`~pdacrad.nnunet_ext.variants.schedules` (base and Stage-1 schedules), :mod:`~pdacrad.nnunet_ext.variants.picai`
(PI-CAI checkpoint selection, Stage-2 schedules), :mod:`~pdacrad.nnunet_ext.variants.radiomics` (the network
conditioned on the global vector); ``nnunet_trainers/`` is the folder nnU-Net's look-up walks. Their names are
listed once, in :mod:`pdacrad.nnunet_ext.trainer_names`. Imports nothing itself, so that importing one variant
imports no other.
"""
