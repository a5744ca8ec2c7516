"""PyRadiomics-exact radiomics in torch: segment ("global") features and voxel-wise parametric maps."""
