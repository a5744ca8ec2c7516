"""Grand-Challenge / PANORAMA container entry point: PDAC detection on one portal-venous CT.

    python process.py [--input DIR] [--output DIR] [--resources DIR] [--device auto|cpu|cuda] [--report DIR] [-v]

Defaults: ``/input``, ``/output``, ``resources/`` beside this file, ``auto``. Exit codes: 0 success, 2 invalid
input (nothing written), 1 internal or resource error. A thin shell over the ``pdacrad predict`` command
(:func:`pdacrad.cli.predict.process_app`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from pdacrad.cli.logging_setup import configure_progress

configure_progress(sys.stderr)  # before anything imports tqdm: progress bars only on a terminal

from pdacrad.cli.predict import process_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(process_main(sys.argv[1:], default_resources=Path(__file__).resolve().parent / "resources"))
