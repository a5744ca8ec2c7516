"""``pdacrad maps`` and ``pdacrad features``: PyRadiomics-exact voxel-wise maps and segment features."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from pdacrad.cli._app import app
from pdacrad.cli.plumbing import exit_on_error
from pdacrad.errors import InvalidInputError

logger = logging.getLogger(__name__)


def _read(path: Path, what: str) -> Any:
    import SimpleITK as sitk

    if not path.is_file():
        raise InvalidInputError(f"{what} not found: {path}")
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError:
        raise InvalidInputError(f"{what} {path} is not an image SimpleITK can read") from None


def _run(job: Callable[[], None]) -> None:
    """Run ``job``; invalid input → one line on stderr and exit code 2."""
    with exit_on_error():
        job()


@app.command("maps")
def maps(
    image: Path = typer.Option(..., "--image", help="Image file (e.g. CT in HU): .nii.gz, .mha, .nrrd."),
    mask: Path = typer.Option(..., "--mask", help="Label map on the image's grid."),
    out: Path = typer.Option(
        ..., "--out", help="Folder; one <feature name>.nii.gz per feature is written here."
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
    label: int = typer.Option(1, "--label", help="ROI label value in the mask."),
) -> None:
    """Voxel-wise radiomics maps in the input image's geometry (PyRadiomics voxel-based mode, batched in torch).

    Voxels outside the ROI hold the params file's `initValue` (default 0). Exit code 2 on invalid input.
    """

    def job() -> None:
        import SimpleITK as sitk

        from pdacrad.radiomics import compute_maps, load_settings

        settings = load_settings(params)
        names = [f.strip() for f in features.split(",") if f.strip()] if features else None
        result = compute_maps(
            _read(image, "image"),
            _read(mask, "mask"),
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
