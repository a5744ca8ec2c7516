"""The per-feature cache of parametric maps: one map per (feature settings, case), shared by every selection.

Layout: ``<work_dir>/radiomics/map_cache/<feature key>/<case>.nii.gz`` (float32, the case's Stage-2 ROI grid,
``initValue`` outside the map mask) with a stamp ``<case>.json``, and ``feature.json`` saying what the key
stands for. The **feature key** hashes what decides the feature's map apart from the case: its name, the map
params' ``setting`` and ``voxelSetting`` sections (bin width, resampling, kernel radius, ...), the settings of
its own image type, the HU window (``pdacrad`` section), the pancreas rule, the map-mask dilation and the compute
precision. Two selections (e.g. two folds) that chose the same feature with the same settings therefore share
its maps. The **stamp** adds what decides it for one case: the sha256 of the case's mask file (so new
out-of-fold Stage-1 masks recompute) and the identity of its ROI CT (path, size, mtime).

CV prediction keeps a second cache of the same layout, ``<work_dir>/radiomics/prediction_map_cache``, for maps on
the ROI inference cuts around a case's out-of-fold pancreas (:attr:`MapCaseJob.roi_margins_mm`; the stamp adds
the margins). Maps are computed by the functions inference uses (:mod:`pdacrad.inference.radiomics_inputs`):
``compute_map_channels(ct_roi, map_mask(on_grid(radiomics_pancreas(mask), ct_roi), dilation), ...)``, in
parallel over cases on a Dask client with the config's device and precision
(:class:`~pdacrad_train.parallel.MapCompute`), all missing features of a case in one call per settings group.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pdacrad.model.radiomics_spec import Preprocessing, RadiomicsSpec
from pdacrad_train.parallel import MapCompute

logger = logging.getLogger(__name__)


def image_type_key(feature: str, image_types: Mapping[str, Any]) -> str | None:
    """The key of ``image_types`` (PyRadiomics ``imageType`` section) that produced ``feature``, by its name's
    prefix: ``log-sigma-2-0-mm-3D_glcm_Idm`` → ``LoG``, ``wavelet-LLH_…`` → ``Wavelet``, ``lbp-2D_…`` →
    ``LBP2D``. The longest matching key wins (``squareroot`` is SquareRoot, not Square)."""
    prefix = feature.split("_", 1)[0].replace("-", "").lower()
    if prefix.startswith("logarithm"):
        return next((k for k in image_types if k.lower() == "logarithm"), None)
    matches = [k for k in image_types if prefix.startswith(k.lower())]
    return max(matches, key=len) if matches else None


@dataclass(frozen=True)
class MapFeature:
    """One map feature with the settings that decide its map (see the module docstring).

    Attributes:
        name: PyRadiomics feature name.
        context: JSON of the params without ``imageType``/``featureClass`` (setting, voxelSetting, pdacrad window).
        image_type: its ``imageType`` key and that key's settings (JSON).
        key: sha256 prefix of name, context, image type, pancreas rule, dilation (mm) and precision.
    """

    name: str
    context: str
    image_type: str
    key: str

    def params(self, others: Sequence[MapFeature] = ()) -> dict[str, Any]:
        """A PyRadiomics params dict computing this feature (and ``others`` of the same context)."""
        params = json.loads(self.context)
        types: dict[str, Any] = {}
        for feature in (self, *others):
            types.update(json.loads(feature.image_type))
        params["imageType"] = types
        params["featureClass"] = {f.name.split("_")[1]: None for f in (self, *others)}
        return params


def map_features(spec: RadiomicsSpec, dtype: str) -> list[MapFeature]:
    """``spec.map_features`` as :class:`MapFeature`, in order (keys include ``spec.preprocessing``)."""
    params = dict(spec.map_params)
    types = dict(params.get("imageType") or {"Original": {}})
    context = {k: v for k, v in params.items() if k not in ("imageType", "featureClass")}
    context["pdacrad"] = {k: v for k, v in dict(context.get("pdacrad") or {}).items() if k != "maps"}
    context_json = json.dumps(context, sort_keys=True, default=str)
    out = []
    for name in spec.map_features:
        kind = image_type_key(name, types) or "Original"
        image_type = json.dumps({kind: types.get(kind) or {}}, sort_keys=True, default=str)
        text = json.dumps(
            [
                name,
                context_json,
                image_type,
                spec.preprocessing.pancreas,
                spec.preprocessing.map_mask_dilation_mm,
                dtype,
            ]
        )
        out.append(MapFeature(name, context_json, image_type, hashlib.sha256(text.encode()).hexdigest()[:24]))
    return out


@dataclass(frozen=True)
class MapCaseJob:
    """One case: its Stage-2 ROI CT, its Stage-1 mask on the full grid (``labels``: which values are pancreas,
    ``None``: any non-zero) and that mask's sha256. With ``roi_margins_mm`` (x, y, z), ``ct_roi`` is the whole
    input CT instead and the ROI is cut as inference cuts it: around the radiomics pancreas of the mask with
    these margins (CV prediction: the ROI of the out-of-fold mask, not the training crop of the ground truth)."""

    case: str
    ct_roi: Path
    mask: Path
    labels: tuple[int, ...] | None
    mask_sha256: str
    roi_margins_mm: tuple[float, float, float] | None = None

    def stamp_key(self, feature: MapFeature) -> str:
        """What the cached map of ``feature`` for this case was made from."""
        stat = self.ct_roi.stat()
        parts: list[Any] = [
            feature.key,
            self.mask_sha256,
            str(self.ct_roi.resolve()),
            stat.st_size,
            stat.st_mtime_ns,
        ]
        # appended only with margins, so the training crops' stamps (and their cached maps) stay valid
        if self.roi_margins_mm is not None:
            parts.append(list(self.roi_margins_mm))
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def map_path(cache: Path, feature: MapFeature, case: str) -> Path:
    """The cached map of one feature and case."""
    return cache / feature.key / f"{case}.nii.gz"


def is_cached(cache: Path, feature: MapFeature, job: MapCaseJob) -> bool:
    """Whether the cached map exists and its stamp matches ``job``'s inputs."""
    stamp = cache / feature.key / f"{job.case}.json"
    try:
        fresh = json.loads(stamp.read_text()).get("key") == job.stamp_key(feature)
    except (OSError, json.JSONDecodeError):
        return False
    return fresh and map_path(cache, feature, job.case).is_file()


def _groups(features: Sequence[MapFeature]) -> list[list[MapFeature]]:
    """Features that one ``compute_maps`` call can do together: same context, no conflicting image types."""
    groups: list[list[MapFeature]] = []
    for feature in features:
        kind, settings = next(iter(json.loads(feature.image_type).items()))
        for group in groups:
            types = {k: v for f in group for k, v in json.loads(f.image_type).items()}
            if group[0].context == feature.context and types.get(kind, settings) == settings:
                group.append(feature)
                break
        else:
            groups.append([feature])
    return groups


def case_map_mask(job: MapCaseJob, preprocessing: Preprocessing) -> tuple[Any, Any]:
    """``(ROI CT, map mask)`` of one case as SimpleITK images: the mask inference would compute the maps in —
    ``map_mask(on_grid(radiomics pancreas of the case's Stage-1 mask, ROI CT), dilation)``, uint8 0/1 on the ROI.
    With ``job.roi_margins_mm`` the CT is read as inference reads its input and the ROI cut as
    :meth:`pdacrad.inference.Stage2Pipeline.prepare` cuts it (an empty pancreas: the whole CT, an empty mask)."""
    import SimpleITK as sitk

    from pdacrad.inference.radiomics_inputs import map_mask, on_grid
    from pdacrad_train.masks import read_pancreas

    pancreas = read_pancreas(job.mask, job.labels, preprocessing)
    if job.roi_margins_mm is None:
        ct = sitk.ReadImage(str(job.ct_roi))
    else:
        from pdacrad.io import load_ct
        from pdacrad.preprocessing import roi_from_mask

        ct = load_ct(job.ct_roi)
        if sitk.GetArrayViewFromImage(pancreas).any():
            ct = roi_from_mask(pancreas, job.roi_margins_mm).crop(ct)
    return ct, map_mask(on_grid(pancreas, ct), preprocessing.map_mask_dilation_mm)


def compute_case(
    job: MapCaseJob,
    features: Sequence[MapFeature],
    preprocessing: Preprocessing,
    cache: Path,
    compute: MapCompute,
) -> dict[str, Any]:
    """Compute ``features``' maps of one case into the cache (runs on a Dask worker) on ``compute.device`` in
    ``compute.dtype``: each map written atomically, then its stamp. Returns ``case``, ``mask_voxels`` (map-mask
    voxels) and ``seconds``."""
    import numpy as np
    import SimpleITK as sitk

    from pdacrad.inference.radiomics_inputs import compute_map_channels
    from pdacrad.io.atomic import atomic_write_image, atomic_write_json

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    start = time.perf_counter()
    ct, mask = case_map_mask(job, preprocessing)
    for group in _groups(features):
        spec = RadiomicsSpec(
            params={},
            global_features=(),
            mean=(),
            std=(),
            map_features=tuple(f.name for f in group),
            map_params=group[0].params(group[1:]),
            preprocessing=preprocessing,
        )
        maps = compute_map_channels(ct, mask, spec, compute.device, compute.dtype)
        for feature, array in zip(group, maps, strict=True):
            image = sitk.GetImageFromArray(np.asarray(array, dtype=np.float32))
            image.CopyInformation(ct)
            folder = cache / feature.key
            if not (folder / "feature.json").is_file():
                about = {
                    "name": feature.name,
                    "params": feature.params(),
                    "dtype": compute.dtype,
                    **preprocessing.to_dict(),
                }
                atomic_write_json(about, folder / "feature.json")
            atomic_write_image(image, map_path(cache, feature, job.case))
            atomic_write_json(
                {"key": job.stamp_key(feature), "mask": str(job.mask)}, folder / f"{job.case}.json"
            )
    voxels = int(sitk.GetArrayViewFromImage(mask).sum())
    return {"case": job.case, "mask_voxels": voxels, "seconds": time.perf_counter() - start}


def ensure_maps(
    jobs: Sequence[MapCaseJob],
    features: Sequence[MapFeature],
    preprocessing: Preprocessing,
    cache: Path,
    client: Any,
    compute: MapCompute,
) -> dict[str, Any]:
    """Compute every (feature, case) map that is missing or stale in the cache, one Dask task per case on
    ``client``, with ``compute``'s device and precision (``features`` must be keyed with ``compute.dtype``).

    Returns ``{"computed": maps computed, "cached": maps reused, "cases": cases computed, "seconds_per_case"}``.
    A failing case raises after the others finish, so their maps are kept.
    """
    from distributed import as_completed
    from tqdm import tqdm

    unique = list({f.key: f for f in features}.values())
    todo = {job.case: [f for f in unique if not is_cached(cache, f, job)] for job in jobs}
    todo = {case: missing for case, missing in todo.items() if missing}
    n_missing = sum(map(len, todo.values()))
    counts: dict[str, Any] = {
        "computed": n_missing,
        "cached": len(jobs) * len(unique) - n_missing,
        "cases": len(todo),
    }
    logger.info(
        "map cache: %d map(s) cached, %d to compute over %d case(s)", counts["cached"], n_missing, len(todo)
    )
    seconds: list[float] = []
    if todo:
        by_case = {job.case: job for job in jobs}
        futures = {
            client.submit(compute_case, by_case[c], missing, preprocessing, cache, compute, pure=False): c
            for c, missing in todo.items()
        }
        failures = []
        for future in tqdm(as_completed(futures), total=len(futures), desc="maps", unit="case"):
            if future.status == "error":
                failures.append((futures[future], future.exception()))
            else:
                seconds.append(float(future.result()["seconds"]))
        if failures:
            case, error = failures[0]
            raise RuntimeError(f"maps failed for {len(failures)} case(s), first {case}: {error}")
    counts["seconds_per_case"] = sum(seconds) / len(seconds) if seconds else 0.0
    return counts
