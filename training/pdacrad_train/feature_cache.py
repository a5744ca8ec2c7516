"""The global-features cache: one JSON per case under ``<work_dir>/radiomics/global_features/``, stamped with a
key of what produced it (:func:`cache_key`). The ``global-features`` step writes it; the ``predict`` step reuses it
where the key matches (:mod:`pdacrad_train.steps.radiomics.global_features`, :mod:`pdacrad_train.steps.predict`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdacrad.model.radiomics_spec import Preprocessing
from pdacrad_train.masks import MaskSource
from pdacrad_train.workspace import Workspace


@dataclass(frozen=True)
class CaseJob:
    """One case to extract: CT path, mask path, which mask labels are pancreas (``None``: any non-zero), and the
    sha256 of the mask file (part of the cache key)."""

    case: str
    image: Path
    mask: Path
    labels: tuple[int, ...] | None = None
    mask_sha256: str = ""


def file_stamp(path: Path) -> dict[str, Any]:
    """Path, size and mtime of a file: a cheap identity for large inputs (CT volumes) that are not hashed."""
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def cache_key(params: Mapping[str, Any], job: CaseJob, preprocessing: Preprocessing = Preprocessing()) -> str:
    """sha256 of what produced a case's features: params, the mask file's content (and label rule), the pancreas
    rule, and the CT file's identity. A cached case is reused only when all are unchanged."""
    text = json.dumps(
        {
            "params": params,
            "mask_sha256": job.mask_sha256,
            "labels": job.labels,
            "pancreas": preprocessing.pancreas,
            "image": file_stamp(job.image),
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def case_job(ws: Workspace, case: str, source: MaskSource) -> CaseJob:
    """What the cache key of ``case`` is made of: its cohort CT and its mask from ``source`` (path, labels, sha256)."""
    return CaseJob(case, ws.cohort_image(case), source.path(case), source.labels, source.digest(case))


def read_cached(cache_dir: Path, case: str, key: str) -> dict[str, Any] | None:
    """The cache record of ``case`` (``case``, ``key``, ``features``, ``empty``, …) when it was computed with
    ``key``; ``None`` when there is none, or another key, or an unreadable file."""
    path = cache_dir / f"{case}.json"
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    return record if record.get("key") == key else None


def is_cached(cache_dir: Path, case: str, key: str) -> bool:
    """Whether ``case`` has a cache file computed with ``key``."""
    return read_cached(cache_dir, case, key) is not None
