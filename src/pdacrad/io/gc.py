"""Grand-Challenge (PANORAMA) container paths and input discovery. The GC constants live here and nowhere else."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from pdacrad.errors import InvalidInputError

log = logging.getLogger(__name__)

#: Interface slug of the input CT in GC's ``inputs.json`` (forge format).
INPUT_SLUG = "venous-phase-ct-scan"
#: Folder of the input CT under the input root.
INPUT_IMAGE_SUBDIR = "images/venous-ct"
#: GC's description of the inputs, when present.
INPUTS_JSON = "inputs.json"
#: Detection map, relative to the output root.
OUTPUT_MAP_RELPATH = "images/pdac-detection-map/detection_map.mha"
#: Case-level likelihood (a bare JSON float), relative to the output root.
OUTPUT_LIKELIHOOD_RELPATH = "pdac-likelihood.json"

#: Where Grand Challenge extracts a separately uploaded model tarball (``./export.sh --model``).
GC_MODEL_DIR = Path("/opt/ml/model")
#: The packaged model's folder inside :data:`GC_MODEL_DIR` (the tarball's single top-level folder).
MODEL_RESOURCES_SUBDIR = "resources"
#: The packaged model's manifest (:mod:`pdacrad.model.manifest`), whose presence marks a model folder. Defined here,
#: at the bottom layer, so that finding the model needs nothing above :mod:`pdacrad.io`.
MANIFEST_NAME = "manifest.json"

#: Image formats accepted as input (``.mha`` is GC's; the others for local use).
IMAGE_SUFFIXES = (".mha", ".mhd", ".nii.gz", ".nii", ".nrrd", ".tif", ".tiff")


#: nnU-Net's channel suffix of a CT file name (``imagesTr/<case>_0000.nii.gz``), dropped from case ids.
_CHANNEL_SUFFIX = "_0000"


def case_id_of(path: Path) -> str:
    """Case id of an image file: name without the image suffix and a trailing ``_0000`` channel suffix."""
    name = path.name
    for suffix in IMAGE_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.removesuffix(_CHANNEL_SUFFIX)


@dataclass(frozen=True)
class GcPaths:
    """Default container roots (overridable on the command line)."""

    input_dir: Path = Path("/input")
    output_dir: Path = Path("/output")
    model_dir: Path = GC_MODEL_DIR


def resolve_resources_dir(explicit: Path | None, baked_in: Path, model_dir: Path | None = None) -> Path:
    """The packaged-model folder to use.

    ``explicit`` (``--resources``) wins; else ``model_dir/resources/`` (``model_dir`` default
    :data:`GC_MODEL_DIR`) when it holds a ``manifest.json`` (Grand
    Challenge extracted a model tarball there); else ``baked_in`` (the image's ``resources/``). A ``model_dir`` with
    something else in it is ignored with a warning, so an unrelated mount cannot silently replace the model.
    """
    if explicit is not None:
        return Path(explicit)
    model_dir = GC_MODEL_DIR if model_dir is None else Path(model_dir)
    candidate = model_dir / MODEL_RESOURCES_SUBDIR
    if (candidate / MANIFEST_NAME).is_file():
        log.info("Model: %s (uploaded model tarball)", candidate)
        return candidate
    if model_dir.is_dir() and any(model_dir.iterdir()):
        log.warning(
            "%s holds no %s/%s; using the built-in model %s",
            model_dir,
            MODEL_RESOURCES_SUBDIR,
            MANIFEST_NAME,
            baked_in,
        )
    return Path(baked_in)


def is_image_file(path: Path) -> bool:
    """True for a file whose name ends with one of :data:`IMAGE_SUFFIXES` (case-insensitive), hidden files excluded."""
    name = path.name.lower()
    return path.is_file() and not name.startswith(".") and name.endswith(IMAGE_SUFFIXES)


def _from_inputs_json(input_dir: Path) -> Path:
    spec_path = input_dir / INPUTS_JSON
    try:
        spec = json.loads(spec_path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{spec_path}: not valid JSON ({exc}); fix or remove it.") from exc
    if not isinstance(spec, list):
        raise InvalidInputError(
            f"{spec_path}: expected a JSON list of interface values, got {type(spec).__name__}."
        )
    for entry in spec:
        interface = entry.get("interface", {}) if isinstance(entry, dict) else {}
        if interface.get("slug") == INPUT_SLUG:
            relative = interface.get("relative_path")
            if not relative:
                raise InvalidInputError(f"{spec_path}: interface '{INPUT_SLUG}' has no relative_path.")
            folder = input_dir / relative
            if folder.is_file():
                return folder
            return _single_image_in(folder)
    raise InvalidInputError(f"{spec_path}: no interface with slug '{INPUT_SLUG}' (the venous-phase CT).")


def _single_image_in(folder: Path) -> Path:
    if not folder.is_dir():
        raise InvalidInputError(f"Input folder {folder} does not exist; put one CT image there.")
    images = sorted(p for p in folder.iterdir() if is_image_file(p))
    if not images:
        raise InvalidInputError(
            f"No image in {folder} (expected one of {', '.join(IMAGE_SUFFIXES)}); put exactly one CT there."
        )
    if len(images) > 1:
        names = ", ".join(p.name for p in images)
        raise InvalidInputError(f"{len(images)} images in {folder} ({names}); exactly one CT is expected.")
    return images[0]


def find_input_image(input_dir: Path) -> Path:
    """The single input CT under ``input_dir``.

    Uses ``input_dir/inputs.json`` (GC forge format: a list of ``{"interface": {"slug", "relative_path"}}``) when it
    exists, else ``input_dir/images/venous-ct/``. Raises :class:`InvalidInputError` when the folder is missing or
    empty, or holds more than one image.
    """
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise InvalidInputError(f"Input folder {input_dir} does not exist.")
    if (input_dir / INPUTS_JSON).is_file():
        path = _from_inputs_json(input_dir)
    else:
        path = _single_image_in(input_dir / INPUT_IMAGE_SUBDIR)
    log.info("Input image: %s", path)
    return path
