"""One Grand-Challenge case, what ``process.py`` and ``pdacrad predict`` run (:mod:`pdacrad.cli.predict`): find and
validate the input CT, run the pipeline, write the two outputs. Nothing is written to the output folder unless the
whole case succeeded. Errors are raised (named, :mod:`pdacrad.errors`); the command line maps them to exit codes."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from pdacrad.io import GcOutputs, find_input_image, load_ct, write_gc_outputs
from pdacrad.io.gc import case_id_of

logger = logging.getLogger(__name__)


def run_case(
    input_dir: Path,
    output_dir: Path,
    resources_dir: Path,
    device: str = "auto",
    report_dir: Path | None = None,
    show_progress: bool = False,
    allow_non_ct: bool = False,
) -> GcOutputs:
    """Run the algorithm on the one CT under ``input_dir`` and write the outputs under ``output_dir``; with
    ``report_dir``, also a PNG + JSON report of the case there (:func:`pdacrad.inference.report.write_case_report`).
    ``show_progress``: nnU-Net's progress bars (the command line turns them on when stderr is a terminal).
    ``allow_non_ct``: score an input whose values are not HU at all (refused by default, see
    :meth:`pdacrad.inference.Pipeline.predict`).

    The input is found and validated before the models are loaded, so a bad input fails fast.

    Raises:
        InvalidInputError: the input folder/image is unusable or not a CT in HU, or ``device`` cannot be honoured.
        ResourceError: ``resources_dir`` is missing, corrupt, or inconsistent.
    """
    from pdacrad.inference.config import InferenceConfig
    from pdacrad.inference.device import resolve_device
    from pdacrad.inference.pipeline import Pipeline

    image_path = find_input_image(input_dir)
    ct = load_ct(image_path)
    resolve_device(device)  # an impossible --device is the user's error: report it before loading any model
    config = InferenceConfig(
        resources_dir=Path(resources_dir),
        device=device,
        show_progress=show_progress,
        allow_non_ct=allow_non_ct,
    )
    started = time.perf_counter()
    result = Pipeline(config).predict(ct, source=str(image_path))
    logger.info("case done in %.1f s (models loaded and both stages run)", time.perf_counter() - started)
    outputs = write_gc_outputs(output_dir, result.detection_map, result.likelihood)
    logger.info("wrote %s and %s", outputs.map_path, outputs.likelihood_path)
    if report_dir is not None:
        from pdacrad.inference.report import write_case_report

        write_case_report(result, ct, Path(report_dir), case_id_of(image_path))
        logger.info("wrote the case report to %s", report_dir)
    return outputs
