"""``pdacrad maps`` and ``pdacrad features``: PyRadiomics-exact voxel-wise maps and segment features."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from pdacrad.cli._app import app
from pdacrad.cli.plumbing import exit_on_error, fail
from pdacrad.errors import EXIT_INTERNAL

logger = logging.getLogger(__name__)


def _read(path: Path, what: str) -> Any:
    from pdacrad.radiomics.batch import read_image

    return read_image(path, what)


def _run(job: Callable[[], None]) -> None:
    """Run ``job``; invalid input → one line on stderr and exit code 2."""
    with exit_on_error():
        job()


@app.command("maps")
def maps(
    out: Path = typer.Option(
        ...,
        "--out",
        help="Folder; one <feature name>.nii.gz per feature is written here (with --batch: in <case id>/).",
    ),
    image: Path | None = typer.Option(
        None, "--image", help="Image file (e.g. CT in HU): .nii.gz, .mha, .nrrd. Not with --batch."
    ),
    mask: Path | None = typer.Option(None, "--mask", help="Label map on the image's grid. Not with --batch."),
    batch: Path | None = typer.Option(
        None,
        "--batch",
        help="PyRadiomics batch CSV instead of --image/--mask: columns Image, Mask, optional Label and ID "
        "(relative paths are relative to the CSV). Every case runs in this one process and is written to "
        "OUT/<case id>/<feature name>.nii.gz, case id = the ID column, else the image file name without its "
        "extension. Resumable: cases whose folder exists are skipped. OUT/batch_summary.csv lists case, "
        "status (done, skipped, failed), message, seconds. Exit code 1 if any case failed, 2 for an invalid "
        "CSV.",
    ),
    params: Path | None = typer.Option(
        None,
        "--params",
        help="PyRadiomics params YAML (default: PyRadiomics defaults; see radiomics/params/).",
    ),
    features: str | None = typer.Option(
        None,
        "--features",
        help="Comma-separated <imageType>_<featureClass>_<Feature> names, e.g. original_glcm_Contrast. "
        "Default: the params file's `pdacrad: maps:` list, else every enabled feature.",
    ),
    device: str = typer.Option("auto", "--device", help="auto (CUDA when available), cpu or cuda."),
    dtype: str = typer.Option("float64", "--dtype", help="float64 (PyRadiomics parity) or float32 (faster)."),
    label: int = typer.Option(
        1, "--label", help="ROI label value in the mask (with --batch: for rows without a Label)."
    ),
) -> None:
    """Voxel-wise radiomics maps in the input image's geometry (PyRadiomics voxel-based mode, batched in torch).

    One case (--image and --mask) or many (--batch CSV, start-up paid once). Voxels outside the ROI hold the
    params file's `initValue` (default 0). Exit code 2 on invalid input.
    """
    names = [f.strip() for f in features.split(",") if f.strip()] if features else None
    if batch is not None:
        if image is not None or mask is not None:
            raise fail("give either --batch or --image and --mask, not both")
        _run(lambda: _maps_batch(batch, out, params, names, device, dtype, label))
        return
    if image is None or mask is None:
        raise fail("give --image and --mask (one case), or --batch CSV (many cases)")
    case_image, case_mask = image, mask

    def job() -> None:
        import SimpleITK as sitk

        from pdacrad.radiomics import compute_maps, load_settings

        settings = load_settings(params)
        result = compute_maps(
            _read(case_image, "image"),
            _read(case_mask, "mask"),
            settings,
            names,
            device=device,
            dtype=dtype,
            label=label,
        )
        out.mkdir(parents=True, exist_ok=True)
        for name, img in result.items():
            target = out / f"{name}.nii.gz"
            partial = out / f".{name}.partial.nii.gz"
            sitk.WriteImage(img, str(partial), useCompression=True)
            partial.replace(target)
        logger.info("wrote %d map(s) to %s", len(result), out)

    _run(job)


def _maps_batch(
    csv_path: Path,
    out: Path,
    params: Path | None,
    names: list[str] | None,
    device: str,
    dtype: str,
    label: int,
) -> None:
    """``pdacrad maps --batch``: every case of the CSV; exit code 1 when any case failed."""
    from pdacrad.radiomics import load_settings
    from pdacrad.radiomics.batch import SUMMARY, read_batch_csv, run_batch

    cases = read_batch_csv(csv_path, label)
    results = run_batch(cases, out, load_settings(params), names, device, dtype)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise fail(
            f"{len(failed)} of {len(results)} case(s) failed (first {failed[0].case}: {failed[0].message}); "
            f"see {out / SUMMARY}",
            EXIT_INTERNAL,
        )


@app.command("features")
def features_command(
    image: Path = typer.Option(..., "--image", help="Image file (e.g. CT in HU)."),
    mask: Path = typer.Option(..., "--mask", help="Label map on the image's grid."),
    out: Path = typer.Option(..., "--out", help="JSON file {feature name: value} (diagnostics excluded)."),
    params: Path | None = typer.Option(
        None, "--params", help="PyRadiomics params YAML, e.g. radiomics/params/paper_global.yaml."
    ),
    label: int = typer.Option(1, "--label", help="ROI label value in the mask."),
) -> None:
    """Segment-level PyRadiomics features (PyRadiomics' extractor itself) of one image and mask."""

    def job() -> None:
        from pdacrad.radiomics import compute_features, load_settings

        values = compute_features(
            _read(image, "image"), _read(mask, "mask"), load_settings(params), label=label
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.partial")
        partial.write_text(json.dumps(values, indent=1, allow_nan=True))
        partial.replace(out)
        logger.info("wrote %d feature(s) to %s", len(values), out)

    _run(job)
