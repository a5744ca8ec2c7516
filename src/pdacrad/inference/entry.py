"""The Grand-Challenge entry point shared by ``process.py`` and ``pdacrad predict``: find and validate the input
CT, run the pipeline, write the two outputs, and map errors to exit codes (0 ok, 2 invalid input, 1 anything
else). Nothing is written to the output folder unless the whole case succeeded."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pdacrad.cli.logging_setup import stream_is_tty
from pdacrad.errors import EXIT_INTERNAL, EXIT_INVALID_INPUT, EXIT_OK, InvalidInputError, ResourceError
from pdacrad.io import GcOutputs, GcPaths, find_input_image, load_ct, resolve_resources_dir, write_gc_outputs
from pdacrad.io.gc import case_id_of

logger = logging.getLogger(__name__)


def run_case(
    input_dir: Path,
    output_dir: Path,
    resources_dir: Path,
    device: str = "auto",
    report_dir: Path | None = None,
) -> GcOutputs:
    """Run the algorithm on the one CT under ``input_dir`` and write the outputs under ``output_dir``; with
    ``report_dir``, also a PNG + JSON report of the case there (:func:`pdacrad.inference.report.write_case_report`).

    The input is found and validated before the models are loaded, so a bad input fails fast.

    Raises:
        InvalidInputError: the input folder/image is unusable, or ``device`` cannot be honoured.
        ResourceError: ``resources_dir`` is missing, corrupt, or inconsistent.
    """
    from pdacrad.inference.config import InferenceConfig
    from pdacrad.inference.device import resolve_device
    from pdacrad.inference.pipeline import Pipeline

    image_path = find_input_image(input_dir)
    ct = load_ct(image_path)
    resolve_device(device)  # an impossible --device is the user's error: report it before loading any model
    config = InferenceConfig(
        resources_dir=Path(resources_dir), device=device, show_progress=stream_is_tty(sys.stderr)
    )
    started = time.perf_counter()
    result = Pipeline(config).predict(ct)
    logger.info("case done in %.1f s (models loaded and both stages run)", time.perf_counter() - started)
    outputs = write_gc_outputs(output_dir, result.detection_map, result.likelihood)
    logger.info("wrote %s and %s", outputs.map_path, outputs.likelihood_path)
    if report_dir is not None:
        from pdacrad.inference.report import write_case_report

        write_case_report(result, ct, Path(report_dir), case_id_of(image_path))
        logger.info("wrote the case report to %s", report_dir)
    return outputs


def run_and_report(
    input_dir: Path,
    output_dir: Path,
    resources_dir: Path,
    device: str = "auto",
    report_dir: Path | None = None,
) -> int:
    """:func:`run_case` with errors turned into one line on stderr and an exit code; on success prints where the
    outputs went (stdout) and returns 0."""
    try:
        outputs = run_case(input_dir, output_dir, resources_dir, device, report_dir)
    except InvalidInputError as exc:
        sys.stderr.write(f"pdacrad: invalid input: {exc}\n")
        return EXIT_INVALID_INPUT
    except ResourceError as exc:
        sys.stderr.write(f"pdacrad: resource error: {exc}\n")
        return EXIT_INTERNAL
    except Exception as exc:  # the container must report, not crash with an unlogged traceback
        logger.exception("unexpected internal error")
        sys.stderr.write(f"pdacrad: internal error: {type(exc).__name__}: {exc}\n")
        return EXIT_INTERNAL
    likelihood = outputs.likelihood_path.read_text().strip()
    sys.stdout.write(
        f"detection map: {outputs.map_path}\nlikelihood:    {outputs.likelihood_path} ({likelihood})\n"
    )
    return EXIT_OK


def parse_args(argv: Sequence[str] | None, default_resources: Path) -> argparse.Namespace:
    """The SPEC command line ``[--input DIR] [--output DIR] [--resources DIR] [--device auto|cpu|cuda]``."""
    from pdacrad.inference.device import DEVICE_CHOICES

    parser = argparse.ArgumentParser(
        prog="process.py",
        description="PDAC detection on one portal-venous CT (PANORAMA / Grand-Challenge container interface).",
    )
    paths = GcPaths()
    parser.add_argument(
        "--input", type=Path, default=paths.input_dir, help="input root (default %(default)s)"
    )
    parser.add_argument(
        "--output", type=Path, default=paths.output_dir, help="output root (default %(default)s)"
    )
    parser.add_argument(
        "--resources",
        type=Path,
        default=None,
        help=f"packaged model folder (default: {paths.model_dir}/resources when it holds a manifest.json, "
        f"as Grand Challenge extracts an uploaded model tarball there; else {default_resources})",
    )
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="default %(default)s")
    parser.add_argument(
        "--report", type=Path, default=None, help="also write a PNG + JSON report of the case to this folder"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="debug-level logging")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, default_resources: Path = Path("resources")) -> int:
    """``process.py``'s main: parse arguments, configure logging, run, return the exit code (nnU-Net's progress
    bars only when stderr is a terminal).

    ``default_resources`` is the baked-in model, used unless ``--resources`` is given or Grand Challenge's model
    folder holds one (:func:`pdacrad.io.resolve_resources_dir`).
    """
    from pdacrad.cli.logging_setup import configure_logging

    args = parse_args(argv, default_resources)
    configure_logging(args.verbose)
    resources = resolve_resources_dir(args.resources, default_resources)
    return run_and_report(args.input, args.output, resources, args.device, args.report)
