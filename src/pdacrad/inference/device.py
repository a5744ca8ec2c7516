"""Resolve the ``--device auto|cpu|cuda`` choice once; the result is passed down to every stage."""

from __future__ import annotations

import logging

import torch

from pdacrad.errors import InvalidInputError

logger = logging.getLogger(__name__)

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(choice: str) -> torch.device:
    """``auto`` → ``cuda`` when a CUDA device is visible, else ``cpu``; ``cuda`` without one is an input error.

    Raises:
        InvalidInputError: unknown choice, or ``cuda`` requested on a machine without CUDA.
    """
    choice = choice.lower().strip()
    if choice not in DEVICE_CHOICES:
        raise InvalidInputError(f"--device must be one of {', '.join(DEVICE_CHOICES)}, got {choice!r}")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    elif choice == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("--device cuda was requested but no CUDA device is visible; use --device cpu")
    device = torch.device(choice)
    logger.info("running on %s", device)
    return device
