"""``pdacrad predict`` and ``process.py``: the container's algorithm on one case, one command line for both.

``process.py`` runs :func:`process_app`: the same options as ``pdacrad predict`` (plus ``--verbose``, which
``pdacrad`` takes before the command), its default model the ``resources/`` beside ``process.py``. Exit codes: 0
success; 2 invalid input (one line ``pdacrad: invalid input: ...`` on stderr, nothing written); 1 resource or internal
error.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer

from pdacrad.cli._app import app
from pdacrad.cli.logging_setup import configure_logging, stream_is_tty
from pdacrad.errors import EXIT_INTERNAL, EXIT_INVALID_INPUT, EXIT_OK, InvalidInputError, ResourceError

logger = logging.getLogger(__name__)

_INPUT = typer.Option(
    Path("/input"), "--input", help="Input root: images/venous-ct/<one CT> or a GC inputs.json."
)
_OUTPUT = typer.Option(
    Path("/output"),
    "--output",
    help="Output root: images/pdac-detection-map/detection_map.mha and pdac-likelihood.json are written here.",
)
_RESOURCES = typer.Option(
    None,
    "--resources",
    help="Packaged model folder (manifest.json, stage1/, stage2/). Default: /opt/ml/model/resources when it "
    "holds a manifest.json (Grand Challenge's uploaded model tarball), else ./resources (process.py: the "
    "resources/ beside it).",
)
_DEVICE = typer.Option("auto", "--device", help="auto (CUDA when available), cpu or cuda.")
_REPORT = typer.Option(
    None,
    "--report",
    help="Also write <case>.png (axial slices through the top lesions, pancreas contour, detection overlay) "
    "and <case>.json (lesion candidates: centre in mm, volume in mL, confidence) to this folder.",
)
ALLOW_NON_CT = typer.Option(
    False,
    "--allow-non-ct",
    # = pdacrad.inference.config.ALLOW_NON_CT_ENV, written out: importing it would load torch for `--help`;
    # tests/test_process.py sets the variable by that constant
    envvar="PDACRAD_ALLOW_NON_CT",
    help="Score an input whose values are not Hounsfield units at all (an MR, a CT stored with an offset), with a "
    "warning. Without it such an input exits 2 and nothing is written. Unusual but plausible CT (low dose, thick "
    "slices, a partial field of view) runs either way.",
)
_HELP = """Detect PDAC on one portal-venous CT: Stage-1 pancreas → ROI → Stage-2 nnU-Net → lesion candidates.

Exit codes: 0 success; 2 invalid input (nothing written); 1 resource or internal error.
"""


def run_and_report(
    input_dir: Path,
    output_dir: Path,
    resources_dir: Path,
    device: str = "auto",
    report_dir: Path | None = None,
    allow_non_ct: bool = False,
) -> int:
    """:func:`pdacrad.inference.case.run_case` with errors turned into one line on stderr and an exit code; on
    success prints where the outputs went (stdout) and returns 0. nnU-Net's progress bars only when stderr is a
    terminal."""
    from pdacrad.inference.case import run_case

    try:
        outputs = run_case(
            input_dir, output_dir, resources_dir, device, report_dir, stream_is_tty(sys.stderr), allow_non_ct
        )
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


def _predict(
    input_dir: Path,
    output_dir: Path,
    resources_dir: Path | None,
    device: str,
    report_dir: Path | None,
    allow_non_ct: bool,
    default_resources: Path,
) -> None:
    """Run the case with the model folder :func:`pdacrad.io.resolve_resources_dir` picks; exit with its code."""
    from pdacrad.io import resolve_resources_dir

    resources = resolve_resources_dir(resources_dir, default_resources)
    code = run_and_report(input_dir, output_dir, resources, device, report_dir, allow_non_ct)
    if code:
        raise typer.Exit(code)


@app.command("predict", help=_HELP)
def predict(
    input_dir: Path = _INPUT,
    output_dir: Path = _OUTPUT,
    resources_dir: Path | None = _RESOURCES,
    device: str = _DEVICE,
    report_dir: Path | None = _REPORT,
    allow_non_ct: bool = ALLOW_NON_CT,
) -> None:
    """``pdacrad predict``; the default model is ``./resources``."""
    _predict(input_dir, output_dir, resources_dir, device, report_dir, allow_non_ct, Path("resources"))


def process_app(default_resources: Path) -> typer.Typer:
    """``process.py``'s command line: ``predict`` as a program of its own (no command name, runs with no
    arguments), ``--verbose`` for debug-level logging, ``default_resources`` the baked-in model (used unless
    ``--resources`` is given or Grand Challenge's model folder holds one)."""
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @single.command(help=_HELP)
    def process(
        input_dir: Path = _INPUT,
        output_dir: Path = _OUTPUT,
        resources_dir: Path | None = _RESOURCES,
        device: str = _DEVICE,
        report_dir: Path | None = _REPORT,
        allow_non_ct: bool = ALLOW_NON_CT,
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug-level logging."),
    ) -> None:
        configure_logging(verbose)  # before any pipeline import: tqdm reads its switch when imported
        _predict(input_dir, output_dir, resources_dir, device, report_dir, allow_non_ct, default_resources)

    return single


def process_main(argv: list[str], default_resources: Path) -> int:
    """Run ``process.py``'s command line on ``argv``; returns the exit code instead of exiting."""
    try:
        process_app(default_resources)(args=list(argv), prog_name="process.py")
    except SystemExit as exc:  # click's standalone mode always exits
        return int(exc.code or EXIT_OK)
    return EXIT_OK
