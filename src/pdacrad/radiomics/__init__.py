"""PyRadiomics-exact radiomics in torch: segment ("global") features and voxel-wise parametric maps.

- :func:`compute_maps` — voxel-wise maps (PyRadiomics voxel-based mode, batched in torch, CPU or CUDA).
- :func:`compute_features` — segment features (PyRadiomics' extractor itself).
- :func:`load_settings` — a PyRadiomics params YAML as a frozen :class:`RadiomicsSettings`.
"""

from pdacrad.radiomics.features import compute_features
from pdacrad.radiomics.maps import compute_maps
from pdacrad.radiomics.settings import PARAMS_DIR, RadiomicsSettings, load_settings

__all__ = ["PARAMS_DIR", "RadiomicsSettings", "compute_features", "compute_maps", "load_settings"]
