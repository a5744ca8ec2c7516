"""Digests of a ledger unit's inputs: what a trained fold or a prediction folder was made from, cheap at PANORAMA
size (2,238 CTs, multi-GB datasets).

A digest is a string ``sha256:<hex>`` (or :data:`MISSING`). What each one covers:

* small files — plans, ``radiomics.json``, ``global_vectors.json``, ``splits_final.json``, the preprocessing
  done marker, checkpoints (≈ 125–250 MB each, well under a second) — are hashed whole (:func:`file_digest`);
* values (a fold's entry of the splits, a ``radiomics.json`` about to be written) as canonical JSON
  (:func:`json_digest`);
* large folders of images are never re-read: the out-of-fold masks by what the ``oof`` step recorded when it
  wrote them (``stage1_oof/provenance.json``: per case the Stage-1 fold and the sha256 of the validation file the
  mask was made from, :func:`oof_masks_digest`; the path is left out, so a moved work folder is not a change), a
  map dataset by the digest in its ``pdacrad_maps.json`` (every channel's cache stamp and the map scaler), a
  preprocessed dataset by its done marker (:mod:`pdacrad_train.dataset_guard`: plans entries + names, sizes and
  modification times of the raw files).

Not covered: a file edited by hand behind the back of the step that recorded it (a mask in ``stage1_oof/`` whose
provenance was left as it was, a map channel rewritten with the same size and time), and code changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: The digest of an input that does not exist (yet).
MISSING = "missing"
#: The ``oof`` step's record of which file each out-of-fold mask was made from (``stage1_oof/provenance.json``).
OOF_PROVENANCE = "provenance.json"


def file_digest(path: Path) -> str:
    """``sha256:<hex>`` of the file's bytes, read in 1 MiB blocks; :data:`MISSING` when there is no file."""
    path = Path(path)
    if not path.is_file():
        return MISSING
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def json_digest(value: Any) -> str:
    """``sha256:<hex>`` of ``value`` as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"


def json_field_digest(path: Path, key: str) -> str:
    """The digest of ``key`` of the JSON file ``path`` (e.g. the ``digest`` a map dataset records of its
    channels); :data:`MISSING` without the file or the key."""
    path = Path(path)
    if not path.is_file():
        return MISSING
    value = json.loads(path.read_text()).get(key)
    return MISSING if value is None else json_digest(value)


def oof_masks_digest(oof_folder: Path, cases: Iterable[str]) -> str:
    """The digest of the out-of-fold masks of ``cases``, from the ``oof`` step's provenance (per case: the Stage-1
    fold that predicted it and the sha256 of that prediction; not the path). :data:`MISSING` without a provenance
    file; a case without a record counts as ``None`` in it."""
    path = Path(oof_folder) / OOF_PROVENANCE
    if not path.is_file():
        return MISSING
    provenance = json.loads(path.read_text())
    records = {}
    for case in sorted(set(cases)):
        record = provenance.get(case)
        records[case] = None if record is None else {"fold": record["fold"], "sha256": record["sha256"]}
    return json_digest(records)


def short(digest: str) -> str:
    """A digest for a log line: ``sha256 ab12cd34…`` (or ``missing``)."""
    algorithm, _, value = digest.partition(":")
    return f"{algorithm} {value[:8]}…" if value else digest


def changed_inputs(recorded: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """One phrase per input named in both whose digest differs, e.g. ``radiomics.json changed (was sha256
    ab12cd34…, now sha256 9f3c0e11…)``, in ``current``'s order. Not changes: an input named in only one of them (a
    unit recorded before a newer pdacrad tracked an input adopts that input's current digest), and an input that is
    missing now (deleted to save disk, or set aside for a moment: what was made from it stays; a unit that must run
    says itself what it lacks)."""
    return [
        f"{name} changed (was {short(recorded[name])}, now {short(digest)})"
        for name, digest in current.items()
        if name in recorded and recorded[name] != digest and digest != MISSING
    ]
