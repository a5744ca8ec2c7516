"""pdacrad: radiomics-enhanced two-stage nnU-Net detection of PDAC on portal-venous CT.

Subpackages, one per stage (see README "Layout"):
``io`` (Grand-Challenge I/O and input validation), ``synth`` (synthetic PANORAMA-format cohort),
``radiomics`` (PyRadiomics-exact voxel-wise feature maps in torch), ``nnunet_ext`` (Stage-2 trainer variant),
``inference`` (the two-stage pipeline), ``postprocessing`` (lesion candidates), ``cli`` (the ``pdacrad`` command).
"""

__version__ = "0.1.0"
