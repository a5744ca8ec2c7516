"""The per-case global radiomics vector that conditions the Stage-2 network during training.

:mod:`~pdacrad.nnunet_ext.conditioning.global_vectors` (the vectors file; light, also read by the training tree),
:mod:`~pdacrad.nnunet_ext.conditioning.data_loading` (training batches carry the vector),
:mod:`~pdacrad.nnunet_ext.conditioning.case_vectors` (nnU-Net's final validation: each case under its own vector),
:mod:`~pdacrad.nnunet_ext.conditioning.vector_steps` (nnU-Net's train/validation step calling ``network(x, g)``).
Imports nothing itself.
"""
