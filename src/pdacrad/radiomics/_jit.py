"""The one place the engine imports numba: a writable on-disk cache for its compiled kernels, set up first.

Every compiled kernel of the engine is ``@jit`` (``numba.njit(cache=True, nogil=True)``), so a process only
compiles a kernel the first time it ever runs on a machine and loads it from the cache afterwards (a warm
``pdacrad maps`` call starts in about a second instead of ~5 s of JIT). Numba writes its cache next to the source
(``__pycache__``) when that directory is writable; in a read-only install (a container image) it would fail, so
unless ``NUMBA_CACHE_DIR`` is already set this module points it at a per-user directory:
``$XDG_CACHE_HOME/pdacrad/numba`` (default ``~/.cache/pdacrad/numba``) when that is writable, else
``<tmp>/pdacrad-numba-<uid>``.

A container image can ship kernels compiled at build time: ``PDACRAD_NUMBA_CACHE_SEED`` names a (read-only) cache
directory that is copied into the writable cache directory when that is still empty, so a fresh container — whose
``/tmp`` is a new tmpfs on every run — loads the kernels instead of compiling them again (~20 s per case measured).
Numba keys its cache by CPU model: on another CPU the kernels compile at the first call, as without a seed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

_PACKAGE_DIR = Path(__file__).resolve().parent


def _writable(path: Path) -> bool:
    """Whether ``path`` exists (or can be created) and is writable by this process."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def cache_dir() -> Path | None:
    """The numba cache directory the engine uses: ``None`` (numba's default, ``__pycache__`` next to the source)
    when ``NUMBA_CACHE_DIR`` is set or the package directory is writable; else the per-user directory of the
    module docstring."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    pycache = _PACKAGE_DIR / "__pycache__"
    if _writable(pycache):
        return None
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    user = Path(xdg) / "pdacrad" / "numba"
    if _writable(user):
        return user
    return Path(tempfile.gettempdir()) / f"pdacrad-numba-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


#: Environment variable naming a read-only numba cache to start from (see the module docstring).
SEED_ENV = "PDACRAD_NUMBA_CACHE_SEED"


def seed_cache(target: Path) -> bool:
    """Copy the cache named by :data:`SEED_ENV` into ``target`` when ``target`` holds nothing yet; returns whether
    it copied. Any failure leaves numba to compile as usual."""
    seed = os.environ.get(SEED_ENV)
    if not seed or not Path(seed).is_dir() or Path(seed).resolve() == target.resolve():
        return False
    if target.is_dir() and any(target.iterdir()):
        return False
    try:
        shutil.copytree(seed, target, dirs_exist_ok=True)
    except OSError:
        return False
    return True


_DIR = cache_dir()
if _DIR is not None:
    os.environ["NUMBA_CACHE_DIR"] = str(_DIR)
if os.environ.get("NUMBA_CACHE_DIR"):
    seed_cache(Path(os.environ["NUMBA_CACHE_DIR"]))

import numba  # noqa: E402  (after NUMBA_CACHE_DIR is set: numba reads it at import)
from numba import literal_unroll  # noqa: E402,F401  (re-exported: the GLCM drivers unroll over their formulas)

if _DIR is not None:  # numba may have been imported before us (its config is read once)
    numba.config.CACHE_DIR = str(_DIR)  # type: ignore[attr-defined]

# Typing the GLCM drivers' unrolled loop over their tuple of formulas (compile time only) goes through numba's
# first-class-function unification, which warns "experimental"; the behaviour is covered by the engine's tests.
warnings.filterwarnings("ignore", message="First-class function type feature is experimental")


F = TypeVar("F", bound=Callable[..., Any])


def jit(fn: F) -> F:
    """``numba.njit(cache=True, nogil=True)``: compiled once per machine, GIL released (worker threads run it)."""
    return numba.njit(cache=True, nogil=True)(fn)  # type: ignore[return-value]


def jit_inline(fn: F) -> F:
    """:func:`jit`, inlined into its compiled callers at numba IR level (small per-block helpers of hot loops)."""
    return numba.njit(cache=True, nogil=True, inline="always")(fn)  # type: ignore[return-value]


def jit_signature(signature: str) -> Callable[[F], F]:
    """:func:`jit` with an explicit ``signature`` (compiled eagerly; usable as a first-class function)."""

    def wrap(fn: F) -> F:
        return numba.njit(signature, cache=True, nogil=True)(fn)  # type: ignore[return-value]

    return wrap
