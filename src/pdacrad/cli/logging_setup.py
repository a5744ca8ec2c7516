"""One place that configures logging for the command-line entry points (libraries only get loggers).

Fit for a container log (no TTY): one line per record, pdacrad's records at INFO, no routine third-party notes
(:data:`QUIET_THIRD_PARTY`), and no tqdm bars (they redraw into a captured log as thousands of characters per line).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Sequence
from typing import TextIO

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

#: Third-party loggers that attach their own stderr handlers (so the root logger's level does not reach them), with
#: the level they keep unless ``verbose``: PyRadiomics logs every filter and feature class at INFO and, at WARNING,
#: notes on its settings that repeat for every case ("GLCM is symmetrical, therefore Sum Average = ..."); its
#: real failures are errors or exceptions.
QUIET_THIRD_PARTY = {"radiomics": logging.ERROR}

#: tqdm reads ``TQDM_*`` variables as default arguments when it is imported (tqdm >= 4.66).
TQDM_DISABLE_ENV = "TQDM_DISABLE"


def stream_is_tty(stream: TextIO) -> bool:
    """True when ``stream`` is an interactive terminal (``docker run -t`` or a shell), False for a pipe or file."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def configure_progress(stream: TextIO) -> bool:
    """Disable tqdm bars unless ``stream`` is a terminal; returns whether bars stay on.

    Sets ``TQDM_DISABLE=1`` (unless the caller already set ``TQDM_DISABLE``), which tqdm honours when it is
    imported after this call: entry points call :func:`configure_logging` first, before any pipeline import.
    """
    if stream_is_tty(stream):
        return True
    os.environ.setdefault(TQDM_DISABLE_ENV, "1")
    if "tqdm" in sys.modules:
        logging.getLogger(__name__).debug("tqdm was imported before logging was configured; bars may show")
    return False


def _import_if_installed(module: str) -> None:
    """Import ``module`` (a third-party package that configures its own logger at import) when it is installed."""
    if module not in sys.modules and importlib.util.find_spec(module) is not None:
        importlib.import_module(module)


def configure_logging(verbose: bool = False, packages: Sequence[str] = ("pdacrad",)) -> None:
    """Send the log records of ``packages`` to stderr through one handler; idempotent (a second call only changes
    the level). Third-party loggers in :data:`QUIET_THIRD_PARTY` keep only their level's records (all with
    ``verbose``);
    tqdm bars only on a terminal (:func:`configure_progress`)."""
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
    for name, quiet_level in QUIET_THIRD_PARTY.items():
        _import_if_installed(name)  # PyRadiomics sets its logger to INFO when imported: let that happen first
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else quiet_level)
    configure_progress(sys.stderr)
