"""The networks of pdacrad's trainer variants, built without nnU-Net's training code.

:mod:`~pdacrad.nnunet_ext.networks.builder` builds a trained model's network from its trainer name (what inference
uses); :mod:`~pdacrad.nnunet_ext.networks.radiomics_net` is the radiomics-conditioned Stage-2 U-Net. Imports
nothing itself.
"""
