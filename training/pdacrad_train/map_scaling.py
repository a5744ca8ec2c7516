"""Normalised map channels of a map dataset: the :class:`~pdacrad.model.map_scaler.MapScaler` of one selection,
fitted on its training cases inside their map masks, and each case's channels normalised by the function inference
uses (:func:`pdacrad.inference.radiomics_inputs.normalise_map_channels`).

Fitting reads, per case, the map mask (:func:`pdacrad_train.map_cache.case_map_mask`, the mask the maps were
computed in) and each feature's cached map, and keeps a deterministic sample of at most
:data:`SAMPLES_PER_CASE` in-mask voxels (the same voxels for every feature; seeded by the case name), so every
training case weighs about the same and memory stays bounded on a full cohort — as nnU-Net's dataset fingerprint
samples foreground voxels per case for its CT statistics.

The map dataset's book-keeping file (:data:`MAPS_MANIFEST`, beside ``dataset.json``) records the ``radiomics.json``
its channels were made for (features, preprocessing and ``map_scaler``): the Stage-2 fold models trained on the
dataset take that one (:func:`dataset_spec`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pdacrad.errors import InvalidInputError
from pdacrad.model.map_scaler import MapScaler
from pdacrad.model.radiomics_spec import RadiomicsSpec

if TYPE_CHECKING:
    from pdacrad_train.map_cache import MapCaseJob, MapFeature

logger = logging.getLogger(__name__)

#: Book-keeping file of a map dataset (beside dataset.json; nnU-Net ignores it).
MAPS_MANIFEST = "pdacrad_maps.json"
#: At most this many in-mask voxels of each training case enter the fit.
SAMPLES_PER_CASE = 10_000


def _sample_index(case: str, n_inside: int) -> np.ndarray:
    """Positions (into the case's in-mask voxels, in array order) of its fit sample: all when few, else
    :data:`SAMPLES_PER_CASE` drawn without replacement by a generator seeded with the case name."""
    if n_inside <= SAMPLES_PER_CASE:
        return np.arange(n_inside)
    seed = int.from_bytes(hashlib.sha256(case.encode()).digest()[:8], "little")
    return np.sort(np.random.default_rng(seed).choice(n_inside, SAMPLES_PER_CASE, replace=False))


def case_samples(
    job: MapCaseJob, features: Sequence[MapFeature], spec: RadiomicsSpec, cache: Path
) -> list[np.ndarray]:
    """One case's fit sample of each feature's cached map inside its map mask (float64, 1-D, same voxels)."""
    import SimpleITK as sitk

    from pdacrad_train.map_cache import case_map_mask, map_path

    _, mask = case_map_mask(job, spec.preprocessing)
    inside = np.flatnonzero(sitk.GetArrayViewFromImage(mask).ravel())
    chosen = inside[_sample_index(job.case, inside.size)]
    # GetArrayFromImage (a copy): a view of a temporary image would outlive the image's buffer
    return [
        sitk.GetArrayFromImage(sitk.ReadImage(str(map_path(cache, f, job.case))))
        .ravel()[chosen]
        .astype(float)
        for f in features
    ]


def fit_scaler(
    jobs: Sequence[MapCaseJob],
    features: Sequence[MapFeature],
    spec: RadiomicsSpec,
    cache: Path,
    client: Any | None = None,
) -> MapScaler:
    """The :class:`MapScaler` of ``features`` (``spec.map_features`` order) fitted on ``jobs``' cached maps inside
    their map masks; each case's sample read on ``client`` (a Dask client; ``None``: in this process).

    Raises:
        InvalidInputError: no case, or no case with a map-mask voxel.
    """
    from tqdm import tqdm

    if not jobs:
        raise InvalidInputError("no training case to fit the map scaler on.")
    if client is None:
        per_case = [
            case_samples(job, features, spec, cache) for job in tqdm(jobs, desc="map scaler", unit="case")
        ]
    else:
        futures = [client.submit(case_samples, job, features, spec, cache, pure=False) for job in jobs]
        per_case = client.gather(futures)
    pooled = [np.concatenate([samples[i] for samples in per_case]) for i in range(len(features))]
    return MapScaler.fit(pooled)


def write_case_channels(
    job: MapCaseJob, features: Sequence[MapFeature], spec: RadiomicsSpec, cache: Path, targets: Sequence[Path]
) -> None:
    """One case's map channels normalised by ``spec`` (:func:`normalise_map_channels` inside its map mask),
    written atomically to ``targets`` (float32, the cached maps' geometry)."""
    import SimpleITK as sitk

    from pdacrad.inference.radiomics_inputs import normalise_map_channels
    from pdacrad.io.atomic import atomic_write_image
    from pdacrad_train.map_cache import case_map_mask, map_path

    _, mask = case_map_mask(job, spec.preprocessing)
    images = [sitk.ReadImage(str(map_path(cache, f, job.case))) for f in features]
    arrays = normalise_map_channels([sitk.GetArrayFromImage(i) for i in images], mask, spec)
    for image, array, target in zip(images, arrays, targets, strict=True):
        out = sitk.GetImageFromArray(array)
        out.CopyInformation(image)
        atomic_write_image(out, target)


def dataset_spec(raw: Path) -> RadiomicsSpec | None:
    """The ``radiomics.json`` a map dataset's channels were made for (its :data:`MAPS_MANIFEST`), ``None`` when
    the dataset has no such record (no map dataset, or one built before the record existed)."""
    manifest = raw / MAPS_MANIFEST
    if not manifest.is_file():
        return None
    record = json.loads(manifest.read_text()).get("radiomics")
    return None if record is None else RadiomicsSpec.from_dict(record, where=str(manifest))
