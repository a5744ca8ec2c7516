"""The typer application object shared by the command modules of :mod:`pdacrad.cli`."""

from __future__ import annotations

import typer

from pdacrad import __version__
from pdacrad.logging_setup import configure_logging

app = typer.Typer(
    name="pdacrad",
    help=(
        "Radiomics-enhanced two-stage nnU-Net detection of pancreatic ductal adenocarcinoma (PDAC) on "
        "portal-venous CT, in the PANORAMA / Grand-Challenge container format.\n\n"
        "Commands: `predict` runs the algorithm on one case; `maps` and `features` compute PyRadiomics-exact "
        "voxel-wise maps and segment features; `synth` writes a synthetic PANORAMA-format cohort."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pdacrad {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug-level logging."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    configure_logging(verbose)
