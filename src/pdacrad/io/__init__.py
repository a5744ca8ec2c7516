"""Grand-Challenge I/O: finding the input CT, validating it, and writing outputs atomically. No torch here."""

from pdacrad.io.atomic import GcOutputs, atomic_write, atomic_write_image, atomic_write_json, write_gc_outputs
from pdacrad.io.gc import (
    GC_MODEL_DIR,
    INPUT_IMAGE_SUBDIR,
    INPUT_SLUG,
    INPUTS_JSON,
    OUTPUT_LIKELIHOOD_RELPATH,
    OUTPUT_MAP_RELPATH,
    GcPaths,
    find_input_image,
    resolve_resources_dir,
)
from pdacrad.io.validation import MIN_AXIS_VOXELS, load_ct, read_image, validate_ct

__all__ = [
    "GC_MODEL_DIR",
    "INPUTS_JSON",
    "INPUT_IMAGE_SUBDIR",
    "INPUT_SLUG",
    "MIN_AXIS_VOXELS",
    "OUTPUT_LIKELIHOOD_RELPATH",
    "OUTPUT_MAP_RELPATH",
    "GcOutputs",
    "GcPaths",
    "atomic_write",
    "atomic_write_image",
    "atomic_write_json",
    "find_input_image",
    "load_ct",
    "read_image",
    "resolve_resources_dir",
    "validate_ct",
    "write_gc_outputs",
]
