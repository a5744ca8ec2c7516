"""The plumbing every pdacrad command line shares (``pdacrad`` and the training tree's ``pdacrad-train``): one
recipe for a typer application (``--help`` on no arguments, ``--version``, ``--verbose``, logging configured once
per invocation) and one mapping of pdacrad's errors to exit codes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import typer

from pdacrad import __version__
from pdacrad.cli.logging_setup import configure_logging
from pdacrad.errors import EXIT_INTERNAL, EXIT_INVALID_INPUT, InvalidInputError, PdacradError


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


def fail(message: str, code: int = EXIT_INVALID_INPUT, prefix: str = "error") -> typer.Exit:
    """Print ``<prefix>: <message>`` on stderr and return the :class:`typer.Exit` to raise with ``code``."""
    typer.echo(f"{prefix}: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def exit_on_error(prefix: str = "error") -> Iterator[None]:
    """Map pdacrad's errors to exit codes with one line ``<prefix>: <message>`` on stderr:
    :class:`InvalidInputError` → 2 (the user's input is wrong; nothing written), any other :class:`PdacradError`
    → 1."""
    try:
        yield
    except InvalidInputError as error:
        raise fail(str(error), EXIT_INVALID_INPUT, prefix) from None
    except PdacradError as error:
        raise fail(str(error), EXIT_INTERNAL, prefix) from None
