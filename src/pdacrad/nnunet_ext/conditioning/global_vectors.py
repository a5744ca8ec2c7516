"""The per-case global radiomics vectors that condition the Stage-2 network during training.

One JSON file, ``global_vectors.json``, in the nnU-Net preprocessed dataset folder
(``$nnUNet_preprocessed/<DatasetXXX_Name>/``), next to ``dataset.json``::

    {"format_version": 1,
     "feature_names": ["original_glcm_Correlation", ...],     # F names, PyRadiomics naming, fixed order
     "vectors": {"<case id>": [F floats], ...}}               # already z-scored with the training scaler

Whoever writes it (the training tree's ``global-features`` / ``select`` steps) applies the scaler; this module
only stores, validates and looks up. Case ids are nnU-Net's identifiers (file names without ``_0000.nii.gz``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pdacrad.errors import InvalidInputError
from pdacrad.io.json_files import read_json_object

#: File name inside the nnU-Net preprocessed dataset folder.
GLOBAL_VECTORS_FILENAME = "global_vectors.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class GlobalVectors:
    """Case id → z-scored global feature vector (float32, length ``len(feature_names)``).

    Attributes:
        feature_names: the ``F`` feature names, in vector order.
        vectors: case id → array of shape ``(F,)``, float32.
    """

    feature_names: tuple[str, ...]
    vectors: Mapping[str, np.ndarray] = field(repr=False)

    @property
    def num_features(self) -> int:
        """``F``, the vector length."""
        return len(self.feature_names)

    def vector(self, case_id: str) -> np.ndarray:
        """The vector of one case, shape ``(F,)``.

        Raises:
            InvalidInputError: no vector for ``case_id``.
        """
        try:
            return self.vectors[case_id]
        except KeyError:
            known = sorted(self.vectors)
            raise InvalidInputError(
                f"No global vector for case {case_id!r} ({len(known)} cases known, e.g. {known[:3]}); "
                f"recompute {GLOBAL_VECTORS_FILENAME} for every case of the dataset."
            ) from None

    def matrix(self, keys: Sequence[str]) -> torch.Tensor:
        """The ``(B, F)`` float32 tensor whose row ``i`` is the vector of ``keys[i]`` (batch order kept).

        Raises:
            InvalidInputError: a key has no vector.
        """
        rows = [self.vector(str(k)) for k in keys]
        if not rows:
            return torch.zeros((0, self.num_features), dtype=torch.float32)
        return torch.from_numpy(np.stack(rows).astype(np.float32, copy=False))

    def missing(self, case_ids: Sequence[str]) -> list[str]:
        """The ids among ``case_ids`` that have no vector, in the given order."""
        return [c for c in case_ids if c not in self.vectors]


def save_global_vectors(
    path: str | Path, feature_names: Sequence[str], vectors: Mapping[str, np.ndarray | Sequence[float]]
) -> Path:
    """Write ``vectors`` (case id → ``F`` finite floats, already z-scored) to ``path`` (a JSON file, or a folder
    in which ``global_vectors.json`` is written). Returns the file written.

    Raises:
        InvalidInputError: names are duplicated or empty, or a vector has the wrong length or non-finite values.
    """
    path = Path(path)
    if path.is_dir():
        path = path / GLOBAL_VECTORS_FILENAME
    names = tuple(str(n) for n in feature_names)
    table = _validated(
        names, {str(k): np.asarray(v, dtype=np.float64) for k, v in vectors.items()}, str(path)
    )
    payload = {
        "format_version": FORMAT_VERSION,
        "feature_names": list(names),
        # float64 repr in JSON, so the float32 the trainer reads is the nearest to the value written
        "vectors": {case: [float(x) for x in v] for case, v in sorted(table.items())},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(path)
    return path


def load_global_vectors(path: str | Path) -> GlobalVectors:
    """Read a ``global_vectors.json`` (``path`` may be the file or the folder holding it).

    Raises:
        InvalidInputError: missing file, wrong format, or vectors that fail validation.
    """
    path = Path(path)
    if path.is_dir():
        path = path / GLOBAL_VECTORS_FILENAME
    if not path.is_file():
        raise InvalidInputError(
            f"{path}: no global vector file; the training tree writes it (z-scored global features per case)."
        )
    payload = read_json_object(path, InvalidInputError)
    if payload.get("format_version") != FORMAT_VERSION:
        raise InvalidInputError(f"{path}: expected a global vector file with format_version {FORMAT_VERSION}")
    try:
        names = tuple(str(n) for n in payload["feature_names"])
        raw = {str(k): np.asarray(v, dtype=np.float64) for k, v in payload["vectors"].items()}
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidInputError(f"{path}: malformed global vector file ({error!r})") from None
    table = _validated(names, raw, str(path))
    return GlobalVectors(names, {k: v.astype(np.float32) for k, v in table.items()})


def _validated(names: tuple[str, ...], vectors: dict[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    """``vectors`` unchanged after checking names and every vector's length and finiteness."""
    if not names or len(set(names)) != len(names) or any(not n for n in names):
        raise InvalidInputError(f"{where}: feature names must be non-empty and unique, got {list(names)}")
    for case, v in vectors.items():
        if v.shape != (len(names),):
            raise InvalidInputError(
                f"{where}: case {case!r} has a vector of shape {v.shape}, expected ({len(names)},)"
            )
        if not np.isfinite(v).all():
            bad = [n for n, ok in zip(names, np.isfinite(v), strict=True) if not ok]
            raise InvalidInputError(f"{where}: case {case!r} has non-finite values for {bad}")
    return vectors
