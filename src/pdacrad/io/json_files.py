"""Reading the small JSON files of a model folder and a training run (manifest, calibration, radiomics.json, fold
settings, ...) with one set of messages: every failure names the file and raises the caller's error class."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pdacrad.errors import PdacradError, ResourceError


def read_json_object(path: str | Path, error: type[PdacradError] = ResourceError) -> dict[str, Any]:
    """The JSON object stored in ``path``.

    Raises:
        ``error`` (default :class:`~pdacrad.errors.ResourceError`): the file cannot be read (missing included),
            is not valid JSON, or holds something other than an object; the message names the file.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise error(f"{path} is not valid JSON ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path} cannot be read ({exc})") from None
    if not isinstance(raw, dict):
        raise error(f"{path} must hold a JSON object, found {type(raw).__name__}")
    return raw
