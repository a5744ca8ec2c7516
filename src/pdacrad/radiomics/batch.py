"""Maps of many cases in one process, as PyRadiomics' command line runs a batch CSV (``pdacrad maps --batch``).

The CSV is PyRadiomics' batch format: one row per case, columns ``Image`` and ``Mask`` (paths; relative paths are
relative to the CSV's folder), optional ``Label`` (the ROI label, default the call's ``label``) and optional ``ID``
(the case id; default the image file's name without its extension, e.g. ``ct_001`` for ``ct_001.nii.gz``). Other
columns are ignored. Case ids must be unique and usable as folder names.

Each case's maps go to ``<out>/<case id>/<feature name>.nii.gz`` (in the case image's geometry, as
:func:`~pdacrad.radiomics.maps.compute_maps`). A case is written into a hidden temporary folder renamed to
``<case id>`` once every map is written, so a ``<case id>`` folder is always complete: a second run over the same
CSV skips those cases (and deletes the temporary folders an interrupted run left). One failing case (unreadable
image, empty mask, ...) is reported and the others go on. ``<out>/batch_summary.csv`` lists every case with its
status (``done``, ``skipped`` or ``failed``), the error message and the seconds it took; it is rewritten
atomically after each case.

Start-up (importing torch, the compiled kernels' cache) is paid once per batch instead of once per case; each case
runs on every core as a single ``compute_maps`` call does.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import SimpleITK as sitk
from tqdm import tqdm

from pdacrad.errors import InvalidInputError
from pdacrad.radiomics.maps import compute_maps, requested_features, resolve_device, resolve_dtype
from pdacrad.radiomics.settings import RadiomicsSettings

logger = logging.getLogger(__name__)

SUMMARY = "batch_summary.csv"
"""The summary table written into the output folder."""

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr", ".tif", ".tiff")
"""Extensions stripped from an image file's name to make its default case id."""


@dataclass(frozen=True)
class BatchCase:
    """One row of a batch CSV: ``case`` id, ``image`` and ``mask`` paths (absolute), ROI ``label``."""

    case: str
    image: Path
    mask: Path
    label: int


@dataclass(frozen=True)
class CaseResult:
    """What happened to one case: ``status`` ``done`` / ``skipped`` / ``failed``, the error ``message`` of a
    failed case (one line), wall ``seconds``."""

    case: str
    status: str
    message: str
    seconds: float


def case_id_of(image: Path) -> str:
    """The default case id of an image path: its file name without the image extension."""
    name = image.name
    for suffix in IMAGE_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return image.stem


def read_batch_csv(path: Path, label: int = 1) -> list[BatchCase]:
    """The cases of a PyRadiomics batch CSV (see the module docstring); ``label`` where a row has no ``Label``.

    Raises :class:`InvalidInputError` (one line naming the file, and the row where one is at fault) for a missing
    or unreadable file, no ``Image``/``Mask`` column, no rows, an empty path, a ``Label`` that is not an integer,
    or a case id that is empty, not a plain folder name, or repeated. Whether the images exist is each case's
    concern (a missing image fails that case only).
    """
    if not path.is_file():
        raise InvalidInputError(f"batch CSV not found: {path}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in reader.fieldnames or []]
            rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InvalidInputError(f"batch CSV {path} cannot be read: {error}") from None
    lacking = [c for c in ("Image", "Mask") if c not in columns]
    if lacking:
        raise InvalidInputError(
            f"batch CSV {path} has no {' or '.join(lacking)} column (PyRadiomics' batch format: "
            f"Image,Mask[,Label][,ID]); found {columns}"
        )
    if not rows:
        raise InvalidInputError(f"batch CSV {path} lists no case")
    cases: list[BatchCase] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):  # line numbers as an editor shows them (header is line 1)
        where = f"batch CSV {path} line {number}"
        if not row.get("Image") or not row.get("Mask"):
            raise InvalidInputError(f"{where}: Image and Mask must both be given")
        image, mask = (_resolve(row[c], path.parent) for c in ("Image", "Mask"))
        try:
            row_label = int(row["Label"]) if row.get("Label") else label
        except ValueError:
            raise InvalidInputError(f"{where}: Label {row['Label']!r} is not an integer") from None
        case = row.get("ID") or case_id_of(image)
        if case in (".", "..") or case.startswith(".") or "/" in case or "\\" in case:
            raise InvalidInputError(f"{where}: case id {case!r} cannot be a folder name")
        if case in seen:
            raise InvalidInputError(
                f"{where}: case id {case!r} repeats line {seen[case]} (give an ID column to tell them apart)"
            )
        seen[case] = number
        cases.append(BatchCase(case, image, mask, row_label))
    return cases


def _resolve(value: str, base: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def read_image(path: Path, what: str) -> sitk.Image:
    """The image at ``path``; :class:`InvalidInputError` naming ``what`` and the path when there is none or
    SimpleITK cannot read it."""
    if not path.is_file():
        raise InvalidInputError(f"{what} not found: {path}")
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError:
        raise InvalidInputError(f"{what} {path} is not an image SimpleITK can read") from None


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if isinstance(error, InvalidInputError) else f"{type(error).__name__}: {text}"


def _write_case(case: BatchCase, out: Path, maps: dict[str, sitk.Image]) -> None:
    """Every map of ``case`` into a temporary folder, then that folder renamed to ``out/<case>``."""
    partial = out / f".{case.case}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name, image in maps.items():
        sitk.WriteImage(image, str(partial / f"{name}.nii.gz"), useCompression=True)
    os.replace(partial, out / case.case)


def write_summary(results: Sequence[CaseResult], out: Path) -> Path:
    """``out/batch_summary.csv`` (columns case, status, message, seconds), written atomically."""
    target = out / SUMMARY
    partial = out / f".{SUMMARY}.partial"
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case", "status", "message", "seconds"])
        for r in results:
            writer.writerow([r.case, r.status, r.message, f"{r.seconds:.3f}"])
    partial.replace(target)
    return target


def run_batch(
    cases: Sequence[BatchCase],
    out: Path,
    settings: RadiomicsSettings,
    features: Sequence[str] | None = None,
    device: str = "auto",
    dtype: str = "float64",
    progress: bool = True,
    **compute_options: Any,
) -> list[CaseResult]:
    """Maps of every case into ``out/<case id>/`` (see the module docstring), skipping finished cases and going
    on past failed ones; returns one :class:`CaseResult` per case, in the CSV's order, also written to
    ``out/batch_summary.csv``.

    The request (``settings``, ``features``, ``device``, ``dtype``) is checked once before any case:
    :class:`InvalidInputError` if it is wrong (no case runs). ``compute_options`` go to
    :func:`~pdacrad.radiomics.maps.compute_maps` (e.g. ``batch_size``).
    """
    requested_features(settings, features)
    resolve_device(device)
    resolve_dtype(dtype)
    out.mkdir(parents=True, exist_ok=True)
    results: list[CaseResult] = []
    bar = tqdm(cases, desc="maps", unit="case", disable=not progress)
    for case in bar:
        bar.set_postfix_str(case.case)
        start = time.perf_counter()
        if (out / case.case).is_dir():
            results.append(CaseResult(case.case, "skipped", "", 0.0))
            shutil.rmtree(out / f".{case.case}.partial", ignore_errors=True)
            write_summary(results, out)
            continue
        try:
            image, mask = read_image(case.image, "image"), read_image(case.mask, "mask")
            maps = compute_maps(image, mask, settings, features, device, dtype, case.label, **compute_options)
            _write_case(case, out, maps)
        except Exception as error:  # one case's failure, whatever it is, must not stop the others
            shutil.rmtree(out / f".{case.case}.partial", ignore_errors=True)
            message = _one_line(error)
            logger.error("case %s failed: %s", case.case, message)
            logger.debug("case %s", case.case, exc_info=True)
            results.append(CaseResult(case.case, "failed", message, time.perf_counter() - start))
        else:
            results.append(CaseResult(case.case, "done", "", time.perf_counter() - start))
        write_summary(results, out)
    failed = sum(r.status == "failed" for r in results)
    logger.info(
        "batch: %d done, %d skipped (finished before), %d failed; summary in %s",
        sum(r.status == "done" for r in results),
        sum(r.status == "skipped" for r in results),
        failed,
        out / SUMMARY,
    )
    return results
