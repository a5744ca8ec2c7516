"""``pdacrad predict``: the container's algorithm on one case, same interface as ``process.py``."""

from __future__ import annotations

from pathlib import Path

import typer

from pdacrad.cli._app import app


@app.command("predict")
def predict(
    input_dir: Path = typer.Option(
        Path("/input"), "--input", help="Input root: images/venous-ct/<one CT> or a GC inputs.json."
    ),
    output_dir: Path = typer.Option(
        Path("/output"),
        "--output",
        help="Output root: images/pdac-detection-map/detection_map.mha and pdac-likelihood.json are written here.",
    ),
    resources_dir: Path | None = typer.Option(
        None,
        "--resources",
        help="Packaged model folder (manifest.json, stage1/, stage2/). Default: /opt/ml/model/resources when it "
        "holds a manifest.json (Grand Challenge's uploaded model tarball), else ./resources.",
    ),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when available), cpu or cuda."),
    report_dir: Path | None = typer.Option(
        None,
        "--report",
        help="Also write <case>.png (axial slices through the top lesions, pancreas contour, detection overlay) "
        "and <case>.json (lesion candidates: centre in mm, volume in mL, confidence) to this folder.",
    ),
) -> None:
    """Detect PDAC on one portal-venous CT: Stage-1 pancreas → ROI → Stage-2 nnU-Net → lesion candidates.

    Exit codes: 0 success; 2 invalid input (nothing written); 1 resource or internal error.
    """
    from pdacrad.inference.entry import run_and_report
    from pdacrad.io import resolve_resources_dir

    resources = resolve_resources_dir(resources_dir, Path("resources"))
    code = run_and_report(input_dir, output_dir, resources, device, report_dir)
    if code:
        raise typer.Exit(code)
