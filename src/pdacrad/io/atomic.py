"""Atomic file writes: write to a hidden temporary file in the destination folder, then ``os.replace`` it onto the
final name, so that readers never see a half-written file and a crash leaves nothing under the final name."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from pdacrad.io.gc import OUTPUT_LIKELIHOOD_RELPATH, OUTPUT_MAP_RELPATH


def _suffix(path: Path) -> str:
    name = path.name
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix


@contextmanager
def _temp_path(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path`` (same suffix, so writers pick the same format), removed unless renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_suffix(path), dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600; outputs must be readable by the platform that collects them (another user on GC).
    os.chmod(tmp_path, 0o644)
    try:
        yield tmp_path
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path`` and move it onto ``path`` only if ``write`` returns."""
    path = Path(path)
    with _temp_path(path) as tmp:
        write(tmp)
        os.replace(tmp, path)


def atomic_write_image(image: sitk.Image, path: Path, compress: bool = True) -> None:
    """Write an image atomically (format from the suffix of ``path``)."""
    atomic_write(path, lambda tmp: sitk.WriteImage(image, str(tmp), compress))


def atomic_write_json(obj: Any, path: Path) -> None:
    """Write ``obj`` as JSON atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2) + "\n"))


@dataclass(frozen=True)
class GcOutputs:
    """Where :func:`write_gc_outputs` put the two outputs."""

    map_path: Path
    likelihood_path: Path


def write_gc_outputs(output_dir: Path, detection_map: sitk.Image, likelihood: float) -> GcOutputs:
    """Write the PANORAMA outputs: the float32 detection map and the bare-float likelihood.

    Both are first written completely to temporary files; only then are both renamed, so an error while writing
    leaves no output file at all.
    """
    if not (isinstance(likelihood, int | float) and math.isfinite(likelihood) and 0.0 <= likelihood <= 1.0):
        raise ValueError(f"likelihood must be a finite float in [0, 1], got {likelihood!r}")
    output_dir = Path(output_dir)
    map_path = output_dir / OUTPUT_MAP_RELPATH
    likelihood_path = output_dir / OUTPUT_LIKELIHOOD_RELPATH
    map32 = sitk.Cast(detection_map, sitk.sitkFloat32)
    with _temp_path(map_path) as tmp_map, _temp_path(likelihood_path) as tmp_json:
        sitk.WriteImage(map32, str(tmp_map), True)
        tmp_json.write_text(json.dumps(float(likelihood)) + "\n")
        os.replace(tmp_map, map_path)
        os.replace(tmp_json, likelihood_path)
    return GcOutputs(map_path=map_path, likelihood_path=likelihood_path)
