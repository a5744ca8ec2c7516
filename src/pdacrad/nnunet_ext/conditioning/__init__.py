"""The per-case global radiomics vector that conditions the Stage-2 network during training.

:mod:`~pdacrad.nnunet_ext.conditioning.global_vectors` (the vectors file; light, also read by the training tree),
:mod:`~pdacrad.nnunet_ext.conditioning.data_loading` (training batches carry the vector),
:mod:`~pdacrad.nnunet_ext.conditioning.case_vectors` (nnU-Net's final validation: each case under its own vector).
The training and validation steps are nnU-Net's own, run inside ``RadiomicsUNet.conditioned_per_sample``
(:mod:`pdacrad.nnunet_ext.variants.radiomics`).
Imports nothing itself.
"""
