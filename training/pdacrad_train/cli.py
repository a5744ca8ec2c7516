"""The ``pdacrad-train`` command line: one resumable step per sub-command, configured by a YAML in
``training/configs/``."""

from __future__ import annotations

import typer

from pdacrad import __version__
from pdacrad.logging_setup import configure_logging

app = typer.Typer(
    name="pdacrad-train",
    help=(
        "Training tree of pdacrad. Steps, in order: convert → splits → global-features → select → maps → fit → "
        "evaluate → export. Each step is resumable and reads the same config YAML "
        "(training/configs/synthetic-demo.yaml runs end to end on CPU; panorama.yaml is the real recipe). "
        "nnU-Net's nnUNet_raw, nnUNet_preprocessed and nnUNet_results environment variables are respected."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pdacrad-train {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug-level logging."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    configure_logging(verbose)


def main() -> None:
    """Console-script entry point."""
    app()
