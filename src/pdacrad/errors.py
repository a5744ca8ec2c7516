"""Named exception classes. Command-line entry points map them to exit codes:
:class:`InvalidInputError` → 2 (the user's input is wrong; nothing is written), everything else → 1."""

from __future__ import annotations


class PdacradError(Exception):
    """Base class of pdacrad's own errors."""


class InvalidInputError(PdacradError):
    """The input given by the user (image, mask, folder, parameter file) is not usable.

    The message is one line that says what is wrong, where, and what to do.
    """


class ResourceError(PdacradError):
    """The packaged model (``resources/``) is missing, incomplete, or fails its checksum."""


EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INVALID_INPUT = 2
