"""``pdacrad predict-cohort``: the algorithm on a folder of CTs, on Dask, resumable."""

from __future__ import annotations

from pathlib import Path

import typer

from pdacrad.cli._app import app
from pdacrad.cli.plumbing import exit_on_error
from pdacrad.cli.predict import ALLOW_NON_CT
from pdacrad.errors import EXIT_INTERNAL


@app.command("predict-cohort")
def predict_cohort(
    input_dir: Path = typer.Option(..., "--input", help="Folder of CT images, one case per file."),
    output_dir: Path = typer.Option(
        ..., "--output", help="Output folder: <case>/detection_map.mha, <case>/likelihood.json, summary.csv."
    ),
    resources_dir: Path = typer.Option(
        Path("resources"), "--resources", help="Packaged model folder (manifest.json, stage1/, stage2/)."
    ),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when available), cpu or cuda."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Address of an existing Dask scheduler (default: start a LocalCluster)."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="LocalCluster worker processes; each loads the models once."
    ),
    report_dir: Path | None = typer.Option(
        None, "--report", help="Also write a PNG + JSON lesion report per case into this folder."
    ),
    allow_non_ct: bool = ALLOW_NON_CT,
) -> None:
    """Detect PDAC on many portal-venous CTs in one run, the models loaded once per Dask worker.

    The case id is the file name without suffix and without a trailing _0000. Finished cases (both outputs
    present) are skipped, so an interrupted run continues where it stopped; a case that fails is recorded as
    failed in summary.csv (case, likelihood, runtime_s, status, message) and the others go on.

    Exit codes: 0 every case ok or skipped; 1 some case failed, or a resource/internal error; 2 invalid input.
    """
    from pdacrad.inference.cohort import CohortRunConfig, run_cohort

    config = CohortRunConfig(
        input_dir,
        output_dir,
        resources_dir,
        device,
        scheduler,
        workers,
        report_dir,
        allow_non_ct=allow_non_ct,
    )
    with exit_on_error("pdacrad"):
        outcomes = run_cohort(config)
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ok", "skipped", "failed")}
    typer.echo(
        f"{len(outcomes)} case(s): {counts['ok']} predicted, {counts['skipped']} skipped (finished earlier), "
        f"{counts['failed']} failed\nsummary: {Path(output_dir) / 'summary.csv'}"
    )
    if counts["failed"]:
        raise typer.Exit(EXIT_INTERNAL)
