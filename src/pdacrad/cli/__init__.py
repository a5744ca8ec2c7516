"""The ``pdacrad`` command line. Each command lives in its own module; heavy imports happen inside commands
so that ``--help`` stays fast. Nothing in the library imports this package."""

from __future__ import annotations

from pdacrad.cli import (
    cohort,  # noqa: F401
    predict,  # noqa: F401
    radiomics,  # noqa: F401
    synth,  # noqa: F401
)
from pdacrad.cli._app import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
