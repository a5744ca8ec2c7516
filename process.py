"""Grand-Challenge / PANORAMA container entry point: PDAC detection on one portal-venous CT.

    python process.py [--input DIR] [--output DIR] [--resources DIR] [--device auto|cpu|cuda]

Defaults: ``/input``, ``/output``, ``resources/`` beside this file, ``auto``. Exit codes: 0 success, 2 invalid
input (nothing written), 1 internal or resource error. A thin shell over :mod:`pdacrad.inference.entry`; the same
command is ``pdacrad predict``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pdacrad.cli.logging_setup import configure_progress

configure_progress(sys.stderr)  # before pdacrad.inference imports tqdm: progress bars only on a terminal

from pdacrad.inference.entry import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], default_resources=Path(__file__).resolve().parent / "resources"))
