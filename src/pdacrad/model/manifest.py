"""The packaged model folder ``resources/`` and its ``manifest.json``: load, verify (sha256 of every listed file)
and write.

Layout (SPEC): ``manifest.json``, ``radiomics.json`` (optional until the radiomics Stage 2 lands), ``stage1/`` and
``stage2/`` (nnU-Net v2 trained-model folders), and optionally ``calibration.json`` (the likelihood's calibration
map; without it the likelihood is the raw max lesion confidence). The manifest lists every file of the package by its path relative to
``resources/`` (POSIX separators) with its sha256; :func:`verify_resources` checks them all at start-up so that a
truncated download or a hand-edited weight file stops the algorithm with a :class:`~pdacrad.errors.ResourceError`
that names the file, instead of producing silently wrong predictions.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pdacrad.errors import ResourceError
from pdacrad.io.gc import MANIFEST_NAME
from pdacrad.io.json_files import read_json_object

logger = logging.getLogger(__name__)

MANIFEST_FORMAT_VERSION = 1
STAGE1_DIRNAME = "stage1"
STAGE2_DIRNAME = "stage2"
RADIOMICS_NAME = "radiomics.json"
CALIBRATION_NAME = "calibration.json"
"""Optional: the Platt map of the case likelihood (:mod:`pdacrad.model.calibration`)."""
DEMO_WARNING = "demo weights trained on synthetic phantoms — not for clinical or research use on real CT"

_HASH_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class ResourceManifest:
    """The parsed ``resources/manifest.json``.

    ``files`` maps a path relative to the resources folder (POSIX separators) to its lowercase hex sha256.
    """

    format_version: int
    created: str
    demo: bool
    trained_on: str
    training_config: str
    files: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The manifest as the JSON object written to disk (files sorted by path)."""
        return {
            "format_version": self.format_version,
            "created": self.created,
            "demo": self.demo,
            "trained_on": self.trained_on,
            "training_config": self.training_config,
            "files": dict(sorted(self.files.items())),
        }


def sha256_file(path: Path) -> str:
    """Lowercase hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def load_manifest(resources_dir: Path) -> ResourceManifest:
    """Read and validate ``resources_dir/manifest.json`` (structure only, no hashing).

    Raises:
        ResourceError: the folder or manifest is missing, not JSON, or lacks a required key.
    """
    resources_dir = Path(resources_dir)
    path = resources_dir / MANIFEST_NAME
    if not resources_dir.is_dir():
        raise ResourceError(f"resources folder {resources_dir} does not exist; pass --resources DIR")
    if not path.is_file():
        raise ResourceError(
            f"{path} is missing; the resources folder must be produced by `pdacrad-train export`"
        )
    raw = read_json_object(path)
    missing = [k for k in ("format_version", "demo", "files") if k not in raw]
    if missing:
        raise ResourceError(f"{path} lacks required key(s) {missing}")
    files = raw["files"]
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in files.items()
    ):
        raise ResourceError(f"{path}: 'files' must map relative paths to sha256 strings")
    return ResourceManifest(
        format_version=int(raw["format_version"]),
        created=str(raw.get("created", "")),
        demo=bool(raw["demo"]),
        trained_on=str(raw.get("trained_on", "")),
        training_config=str(raw.get("training_config", "")),
        files=MappingProxyType(dict(files)),
    )


def verify_resources(resources_dir: Path) -> ResourceManifest:
    """Load the manifest and check that every listed file exists with the listed sha256, and that both
    Stage folders are listed. Logs the demo warning when the manifest says ``"demo": true``.

    Raises:
        ResourceError: naming the first missing, unlisted-stage, or mismatching file.
    """
    resources_dir = Path(resources_dir)
    manifest = load_manifest(resources_dir)
    for stage in (STAGE1_DIRNAME, STAGE2_DIRNAME):
        if not any(name.startswith(f"{stage}/") for name in manifest.files):
            raise ResourceError(f"{resources_dir / MANIFEST_NAME} lists no file under {stage}/")
    for name, expected in sorted(manifest.files.items()):
        path = resources_dir / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ResourceError(f"{resources_dir / MANIFEST_NAME} lists a path outside the folder: {name}")
        if not path.is_file():
            raise ResourceError(f"resource file {path} is listed in the manifest but missing")
        actual = sha256_file(path)
        if actual != expected.lower():
            raise ResourceError(
                f"resource file {path} is corrupt: sha256 {actual} does not match the manifest's {expected}; "
                "re-export or re-download resources/"
            )
    logger.info("resources %s verified (%d files)", resources_dir, len(manifest.files))
    if manifest.demo:
        logger.warning("resources/ holds %s", DEMO_WARNING)
    return manifest


def write_manifest(
    resources_dir: Path,
    *,
    demo: bool,
    trained_on: str,
    training_config: str,
    created: str | None = None,
) -> ResourceManifest:
    """Hash every file under ``resources_dir`` (except the manifest itself) and write ``manifest.json``.

    ``created`` defaults to the current UTC time (ISO 8601). Returns the written manifest.
    """
    resources_dir = Path(resources_dir)
    files = {
        p.relative_to(resources_dir).as_posix(): sha256_file(p)
        for p in sorted(resources_dir.rglob("*"))
        if p.is_file() and p.name != MANIFEST_NAME and "__pycache__" not in p.parts
    }
    manifest = ResourceManifest(
        format_version=MANIFEST_FORMAT_VERSION,
        created=created or _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        demo=demo,
        trained_on=trained_on,
        training_config=training_config,
        files=MappingProxyType(files),
    )
    (resources_dir / MANIFEST_NAME).write_text(
        json.dumps(manifest.to_json(), indent=2) + "\n", encoding="utf-8"
    )
    return manifest
