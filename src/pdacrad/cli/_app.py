"""The typer application object shared by the command modules of :mod:`pdacrad.cli`."""

from __future__ import annotations

from pdacrad.cli.plumbing import new_app

app = new_app(
    "pdacrad",
    help=(
        "Radiomics-enhanced two-stage nnU-Net detection of pancreatic ductal adenocarcinoma (PDAC) on "
        "portal-venous CT, in the PANORAMA / Grand-Challenge container format.\n\n"
        "Commands: `predict` runs the algorithm on one case; `maps` and `features` compute PyRadiomics-exact "
        "voxel-wise maps and segment features; `synth` writes a synthetic PANORAMA-format cohort."
    ),
)
