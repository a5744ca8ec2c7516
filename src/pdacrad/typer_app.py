"""The one recipe for pdacrad's typer applications (``pdacrad`` and the training tree's ``pdacrad-train``):
``--help`` on no arguments, ``--version``, ``--verbose``, logging configured once per invocation."""

from __future__ import annotations

from collections.abc import Sequence

import typer

from pdacrad import __version__
from pdacrad.logging_setup import configure_logging


def new_app(name: str, help: str, log_packages: Sequence[str] = ("pdacrad",)) -> typer.Typer:
    """A typer application called ``name`` whose root callback handles ``--version`` and ``--verbose`` and sends
    the log records of ``log_packages`` to stderr."""
    app = typer.Typer(
        name=name, help=help, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False
    )

    def _version(value: bool) -> None:
        if value:
            typer.echo(f"{name} {__version__}")
            raise typer.Exit()

    @app.callback()
    def _root(
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug-level logging."),
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ) -> None:
        configure_logging(verbose, log_packages)

    return app
