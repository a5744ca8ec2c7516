"""One place that configures logging for the command-line entry points (libraries only get loggers)."""

from __future__ import annotations

import logging
import sys

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(verbose: bool = False) -> None:
    """Send pdacrad's log records to stderr; idempotent (a second call only changes the level)."""
    level = logging.DEBUG if verbose else logging.INFO
    root = logging.getLogger("pdacrad")
    if not any(getattr(h, "_pdacrad", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))
        handler._pdacrad = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.propagate = False
    root.setLevel(level)
    # PyRadiomics logs every filter and feature class at INFO on its own handler; keep the case log readable.
    radiomics_logger = logging.getLogger("radiomics")
    radiomics_logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
