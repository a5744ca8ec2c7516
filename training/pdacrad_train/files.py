"""Putting one file at another place without copying its bytes: the raw nnU-Net datasets of a run are made of the
cohort's files (Stage 1's CT) and of each other's (the map datasets' CT crops and labels), which on PANORAMA are
2,238 CTs of 30–300 MB each.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def same_file(a: Path, b: Path) -> bool:
    """``b`` is ``a``: a hard link to it, or a copy with its size and mtime (``shutil.copy2`` keeps the mtime)."""
    try:
        if os.path.samefile(a, b):
            return True
        sa, sb = a.stat(), b.stat()
    except OSError:
        return False
    return sa.st_size == sb.st_size and sa.st_mtime_ns == sb.st_mtime_ns


def place(source: Path, target: Path, tmp: Path) -> bool:
    """Put ``source`` at ``target`` as a hard link (a copy with its mtime where the file system refuses links, e.g.
    across devices), atomically via the folder ``tmp`` on ``target``'s file system. Returns whether anything
    changed. nnU-Net only reads raw images, so a link is as good as a copy."""
    if same_file(source, target):
        return False
    tmp.mkdir(parents=True, exist_ok=True)
    part = tmp / target.name
    part.unlink(missing_ok=True)
    try:
        os.link(source, part)
    except OSError:
        shutil.copy2(source, part)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, target)
    return True
