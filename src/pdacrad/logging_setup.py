"""One place that configures logging for the command-line entry points (libraries only get loggers)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(verbose: bool = False, packages: Sequence[str] = ("pdacrad",)) -> None:
    """Send the log records of ``packages`` to stderr through one handler; idempotent (a second call only changes
    the level)."""
    level = logging.DEBUG if verbose else logging.INFO
    root = logging.getLogger(packages[0])
    handlers = [h for h in root.handlers if getattr(h, "_pdacrad", False)]
    if not handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))
        handler._pdacrad = True  # type: ignore[attr-defined]
        handlers = [handler]
    for name in packages:
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = list(handlers), False
        logger.setLevel(level)
    # PyRadiomics logs every filter and feature class at INFO on its own handler; keep the case log readable.
    radiomics_logger = logging.getLogger("radiomics")
    radiomics_logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
