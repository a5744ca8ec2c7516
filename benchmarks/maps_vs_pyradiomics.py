"""Parametric maps: pdacrad vs PyRadiomics voxel mode, timed in the same run on the same real ROI.

    .venv/bin/python benchmarks/maps_vs_pyradiomics.py [--radius 2] [--dilate 2 | --dilate-mm 15]
        [--image CT --mask PANCREAS] [--families glcm,...] [--features Correlation,...] [--skip-families]
        [--skip-paper] [--skip-memory] [--startup] [--device cpu|cuda]
        [--pyradiomics-voxels 300] [--goals [--radii 2,5] [--voxel-batch -1]]

ROI: the real abdominal CT of tests/data with its pancreas mask dilated by ``--dilate`` voxels (a few thousand ROI
voxels, so fixed per-call overheads do not dominate), cropped like PyRadiomics' extractor. Both sides run
single-threaded (``OMP_NUM_THREADS=1``, torch 1 thread, one pdacrad worker) and are timed in PROCESS CPU TIME
(``time.process_time``), which other jobs on a shared machine do not inflate. PyRadiomics is timed on its own
voxel-batch code path (``_calculateFeatures``, exactly what ``execute`` runs per batch, kernels drawn from the whole
ROI) on ``--pyradiomics-voxels`` ROI voxels spread evenly over the ROI, and reported as voxels per CPU second;
pdacrad computes every ROI voxel (discretisation, kernel gathering, features). The ratio is of voxels per CPU
second. Then the paper's eight map features (``paper_maps.yaml`` with its 1×1×2.5 mm resampling and filters) the
same way, each group also timed in wall-clock seconds with pdacrad's default of one worker thread per core (the
user's default; PyRadiomics stays single-threaded) or, with ``--device cuda``, on the GPU (synchronised, after a
warm-up call), with seconds per feature per case; and pdacrad's peak memory
for the paper set at kernelRadius 5 on a 160×160×60 ROI. The sliding families (GLCM, NGTDM, GLDM) are also timed
with sliding counting off (``Backend.sliding=False``: every kernel counted afresh) in the same run, so the sliding
speed-up is measured side by side. ``--startup`` times ``pdacrad maps`` as a user starts it (a new process, the
paper set on a 9-voxel mask): with a cold numba cache (a fresh ``NUMBA_CACHE_DIR``), then warm, next to
``import torch`` alone. ``--goals`` prints instead one table of issue #22's goals, met or not: every family at
``--radii`` (2 and 5) on raw CT, end to end and with start-up removed, then the paper set at r = 5
(:mod:`maps_goals`).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # single-threaded numpy for PyRadiomics, before numpy is imported

import argparse  # noqa: E402
import importlib  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import psutil  # noqa: E402
import SimpleITK as sitk  # noqa: E402
import torch  # noqa: E402
from maps_goals import CLASSES, family_rows, print_table  # noqa: E402  (this folder: run as a script)

from pdacrad.radiomics import compute_maps  # noqa: E402
from pdacrad.radiomics.backend import Backend  # noqa: E402
from pdacrad.radiomics.filters import FilteredImage, iter_image_types, prepare  # noqa: E402
from pdacrad.radiomics.maps import FAMILIES, FeatureName, _family_maps  # noqa: E402
from pdacrad.radiomics.settings import PARAMS_DIR, load_settings, settings_from_dict  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
SINGLE_THREAD = Backend.choose("cpu", workers=1)
PER_KERNEL = replace(SINGLE_THREAD, sliding=False)  # kernels counted afresh: the reference for sliding
SLIDING = ("glcm", "ngtdm", "gldm")  # the families whose compiled counting slides kernels along scan lines


def pyradiomics_seconds_per_voxel(
    image: sitk.Image, mask: sitk.Image, family: str, features: list[str] | None, settings: dict, n: int
) -> float:
    """CPU seconds per voxel of PyRadiomics' voxel batch on ``n`` ROI voxels spread evenly over the ROI."""
    cls = getattr(importlib.import_module(f"radiomics.{family}"), CLASSES[family])
    extractor = cls(image, mask, **{**settings, "voxelBased": True})
    if features:
        for f in features:
            extractor.enableFeatureByName(f)
    else:
        extractor.enableAllFeatures()
    coords = extractor.labelledVoxelCoordinates
    coords = coords[:, np.linspace(0, coords.shape[1] - 1, min(n, coords.shape[1])).astype(int)]
    start = time.process_time()
    for _ in extractor._calculateFeatures(coords):
        pass
    return (time.process_time() - start) / coords.shape[1]


def ours_seconds_per_voxel(
    filtered: FilteredImage,
    family: str,
    features: list[str],
    repeat: int = 2,
    backend: Backend = SINGLE_THREAD,
) -> float:
    """CPU seconds per voxel of pdacrad on the same cropped image, every ROI voxel, one worker thread
    (discretisation, kernel gathering and features; the shared pre-processing and filters are excluded, as for
    PyRadiomics). Best of ``repeat`` runs after a warm-up."""
    n_roi = int((sitk.GetArrayFromImage(filtered.mask) == 1).sum())

    def run() -> None:
        _family_maps(filtered, family, features, backend, torch.float64, 1, None)

    run()  # warm-up
    best = math.inf
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best / n_roi


def dilated_roi(
    dilate: int, image_path: Path | None = None, mask_path: Path | None = None, dilate_mm: float = 0.0
) -> tuple[sitk.Image, sitk.Image]:
    """The real CT and its pancreas mask (default: tests/data) dilated by ``dilate`` voxels or, if given,
    ``dilate_mm`` millimetres per axis (a ball), label 1."""
    image = sitk.ReadImage(str(image_path or DATA / "ts_native_abdomen_ct.nii.gz"))
    mask = sitk.ReadImage(str(mask_path or DATA / "ts_native_abdomen_pancreas_mask.nii.gz")) > 0
    radius = [round(dilate_mm / s) for s in mask.GetSpacing()] if dilate_mm else [dilate] * 3
    if any(radius):
        mask = sitk.BinaryDilate(mask, radius, sitk.sitkBall)
    return image, sitk.Cast(mask, sitk.sitkUInt8)


def family_table(
    image: sitk.Image, mask: sitk.Image, radius: int, n: int, families: list[str], features: list[str] | None
) -> None:
    params = {
        "setting": {"binWidth": 25},
        "voxelSetting": {"kernelRadius": radius},
        "imageType": {"Original": {}},
    }
    case = prepare(image, mask, settings_from_dict(params))
    cropped = next(iter_image_types(case, {"Original": {}}))
    print(f"\n## Per family, kernelRadius {radius}, ROI {int(sitk.GetArrayFromImage(mask).sum())} voxels")
    print(f"{'family':12s} {'PyRadiomics vox/CPU-s':>22s} {'pdacrad vox/CPU-s':>18s} {'ratio':>7s}")
    for family in [f for f in FAMILIES if f in families]:
        try:
            module = importlib.import_module(f"pdacrad.radiomics.{family}")
        except ModuleNotFoundError:
            print(f"{family:12s} {'(not implemented)':>18s}")
            continue
        names = [f for f in features if f in module.FEATURES] if features else list(module.FEATURES)
        theirs = pyradiomics_seconds_per_voxel(
            cropped.image, cropped.mask, family, names, cropped.settings, n
        )
        ours = ours_seconds_per_voxel(cropped, family, names)
        print(
            f"{family:12s} {1 / theirs:22.0f} {1 / ours:18.0f} {theirs / ours:7.1f}  ({len(names)} features)"
        )
        if family in SLIDING:
            fresh = ours_seconds_per_voxel(cropped, family, names, backend=PER_KERNEL)
            print(
                f"{'  (sliding off)':12s} {'':22s} {1 / fresh:18.0f} {theirs / fresh:7.1f}"
                f"   sliding / per-kernel counting: {fresh / ours:.2f}x"
            )


def _wall_seconds(filtered: FilteredImage, family: str, features: list[str], backend: Backend) -> float:
    """Wall seconds of one map call on ``backend`` (on CUDA after a warm-up call, synchronised)."""
    cuda = backend.device.type == "cuda"
    if cuda:
        _family_maps(filtered, family, features, backend, torch.float64, 1, None)
        torch.cuda.synchronize()
    start = time.perf_counter()
    _family_maps(filtered, family, features, backend, torch.float64, 1, None)
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def paper_set(
    image: sitk.Image, mask: sitk.Image, radius: int, n: int, wall_backend: Backend
) -> dict[str, float]:
    """Prints the paper set's groups and totals; returns the voxel-mode parts: PyRadiomics' CPU-s (``theirs``),
    pdacrad's single-thread CPU-s (``ours_cpu``) and wall s on ``wall_backend`` (``ours_wall``), its ``workers``."""
    settings = load_settings(PARAMS_DIR / "paper_maps.yaml")
    params = settings.as_pyradiomics()
    params["voxelSetting"]["kernelRadius"] = radius
    params["pdacrad"] = {"intensityWindow": list(settings.intensity_window or ())}
    cfg = settings_from_dict(params)
    wanted = [FeatureName.parse(f) for f in settings.maps]
    start = time.process_time()
    case = prepare(image, mask, cfg)
    filtered_images = list(iter_image_types(case, {k: dict(v) for k, v in cfg.image_types.items()}))
    shared = time.process_time() - start  # pre-processing and filters: the same code for both
    theirs_total = ours_total = shared
    wall_total = 0.0
    where = f"{wall_backend.workers} CPU workers" if wall_backend.compiled else wall_backend.device.type
    n_roi = int((sitk.GetArrayFromImage(case.mask) == 1).sum())
    for filtered in filtered_images:
        groups: dict[str, list[str]] = {}
        for f in wanted:
            if f.image == filtered.name:
                groups.setdefault(f.family, []).append(f.feature)
        for family, feats in groups.items():
            per_voxel = pyradiomics_seconds_per_voxel(
                filtered.image, filtered.mask, family, feats, filtered.settings, n
            )
            theirs_total += per_voxel * n_roi
            ours_group = ours_seconds_per_voxel(filtered, family, feats, repeat=1) * n_roi
            ours_total += ours_group
            if family in SLIDING:
                fresh = ours_seconds_per_voxel(filtered, family, feats, repeat=1, backend=PER_KERNEL) * n_roi
                print(
                    f"  {filtered.name}_{family} with sliding off: {fresh:6.2f} CPU-s ({fresh / ours_group:.2f}x)"
                )
            wall = _wall_seconds(filtered, family, feats, wall_backend)
            wall_total += wall
            print(
                f"  {filtered.name}_{family} {feats}: PyRadiomics {per_voxel * n_roi:7.1f} CPU-s, "
                f"pdacrad {ours_group:6.2f} CPU-s 1 thread ({per_voxel * n_roi / ours_group:.1f}x), "
                f"{wall:6.2f} s wall on {where}; "
                f"{ours_group / len(feats):.2f} s per feature (1 thread)"
            )
    ours = ours_total
    print(
        f"\n## Paper set (8 features, paper_maps.yaml, kernelRadius {radius}; {n_roi} ROI voxels after resampling)"
    )
    print(f"shared pre-processing + filters (same PyRadiomics code for both): {shared:8.1f} CPU-s")
    print(f"PyRadiomics total, voxel mode extrapolated from {n} voxels/group: {theirs_total:8.1f} CPU-s")
    print(f"pdacrad total, measured on the whole ROI:                      {ours:8.1f} CPU-s")
    print(f"voxel-mode part only: PyRadiomics {theirs_total - shared:.1f} s, pdacrad {ours - shared:.1f} s")
    print(f"ratio, voxel-mode part: {(theirs_total - shared) / (ours - shared):.1f}x")
    print(f"ratio, including the shared filters: {theirs_total / ours:.1f}x")
    print(
        f"pdacrad voxel-mode part on {where}: {wall_total:.1f} s wall "
        f"(vs {ours - shared:.1f} CPU-s single-thread); PyRadiomics single-thread / pdacrad on {where}: "
        f"{(theirs_total - shared) / wall_total:.1f}x; seconds per feature per case ({where}): "
        f"{wall_total / len(wanted):.2f}"
    )
    return {
        "theirs": theirs_total - shared,
        "ours_cpu": ours - shared,
        "ours_wall": wall_total,
        "workers": float(wall_backend.workers),
    }


def peak_memory(radius: int = 5) -> None:
    rng = np.random.default_rng(0)
    shape = (60, 160, 160)  # z, y, x
    ct = (40 + 30 * rng.standard_normal(shape)).astype(np.int16)
    image = sitk.GetImageFromArray(ct)
    image.SetSpacing((0.75, 0.75, 1.5))
    mask_arr = np.zeros(shape, np.uint8)
    mask_arr[rng.random(shape) < 0.002] = 1
    for corner in [(0, 0, 0), (59, 159, 159)]:
        mask_arr[corner] = 1
    mask = sitk.GetImageFromArray(mask_arr)
    mask.CopyInformation(image)
    settings = load_settings(PARAMS_DIR / "paper_maps.yaml")
    params = settings.as_pyradiomics()
    params["setting"]["resampledPixelSpacing"] = None  # keep the 160×160×60 grid
    params["voxelSetting"]["kernelRadius"] = radius
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    compute_maps(image, mask, params, list(settings.maps), device="cpu")
    elapsed = time.perf_counter() - start
    done.set()
    thread.join()
    n = int(mask_arr.sum())
    print(
        f"\n## Peak memory, paper set, kernelRadius {radius}, ROI 160×160×60 ({n} sparse ROI voxels spanning the box)"
    )
    print(f"peak RSS {peak[0] / 2**30:.2f} GiB (process baseline {base / 2**30:.2f} GiB); {elapsed:.1f} s")


def _child_run(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """``(CPU-s, wall s)`` of one child process (user + system time of the child, from ``RUSAGE_CHILDREN``)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def startup(image: sitk.Image, mask: sitk.Image, repeat: int = 3) -> None:
    """``pdacrad maps`` (paper set, ``--device cpu``) on a 9-voxel mask in new processes: cold numba cache, then
    warm (best of ``repeat``), next to ``import torch`` alone (best of ``repeat``)."""
    arr = sitk.GetArrayFromImage(mask)
    centre = np.argwhere(arr > 0).mean(axis=0).round().astype(int)
    small = np.zeros_like(arr)
    small[centre[0], centre[1] - 1 : centre[1] + 2, centre[2] - 1 : centre[2] + 2] = 1
    with tempfile.TemporaryDirectory() as tmp:
        small_mask = sitk.GetImageFromArray(small)
        small_mask.CopyInformation(mask)
        sitk.WriteImage(image, f"{tmp}/ct.nii.gz")
        sitk.WriteImage(small_mask, f"{tmp}/mask.nii.gz")
        env = {**os.environ, "NUMBA_CACHE_DIR": f"{tmp}/numba"}
        cli = Path(sys.executable).parent / "pdacrad"
        command = [str(cli), "maps", "--image", f"{tmp}/ct.nii.gz", "--mask", f"{tmp}/mask.nii.gz"]
        command += ["--out", f"{tmp}/out", "--params", str(PARAMS_DIR / "paper_maps.yaml"), "--device", "cpu"]
        cold = _child_run(command, env)
        warm = min(_child_run(command, env) for _ in range(repeat))
        torch_only = min(_child_run([sys.executable, "-c", "import torch"], env) for _ in range(repeat))
    print("\n## Start-up of `pdacrad maps` (paper set, 9-voxel mask, --device cpu; a new process each)")
    print(f"{'':34s} {'CPU-s':>7s} {'wall s':>7s}")
    for label, (cpu, wall) in [
        ("cold numba cache (first call ever)", cold),
        (f"warm cache (best of {repeat})", warm),
        (f"import torch alone (best of {repeat})", torch_only),
    ]:
        print(f"{label:34s} {cpu:7.2f} {wall:7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pyradiomics-voxels", type=int, default=300, help="ROI voxels PyRadiomics is timed on"
    )
    parser.add_argument("--radius", type=int, default=2)
    parser.add_argument("--dilate", type=int, default=2, help="pancreas mask dilation (voxels)")
    parser.add_argument("--dilate-mm", type=float, default=0.0, help="pancreas mask dilation (mm; overrides)")
    parser.add_argument("--image", type=Path, default=None, help="CT (default: tests/data abdominal CT)")
    parser.add_argument("--mask", type=Path, default=None, help="pancreas mask on the CT's grid")
    parser.add_argument("--skip-families", action="store_true")
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated families to time")
    parser.add_argument(
        "--features", default="", help="comma-separated features of the per-family table (default: all)"
    )
    parser.add_argument("--skip-paper", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument(
        "--startup", action="store_true", help="also time `pdacrad maps` start-up, cold and warm"
    )
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cpu",
        help="where the paper set's wall-clock column runs: all CPU cores (default) or the GPU",
    )
    parser.add_argument(
        "--goals",
        action="store_true",
        help="one table: every family at --radii on raw CT (marginal and end-to-end), the paper set at r = 5, "
        "issue #22's goals met / not met",
    )
    parser.add_argument("--radii", default="2,5", help="kernel radii of the --goals family rows")
    parser.add_argument(
        "--voxel-batch",
        type=int,
        default=-1,
        help="PyRadiomics' voxelBatch in the --goals family rows (-1, its default: the whole ROI at once)",
    )
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device here")
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    torch.set_num_threads(1)
    print(
        f"# maps_vs_pyradiomics — {platform.processor() or platform.machine()}, {psutil.cpu_count()} CPUs, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )
    image, mask = dilated_roi(args.dilate, args.image, args.mask, args.dilate_mm)
    if args.goals:
        radii = [int(r) for r in args.radii.split(",") if r]
        rows = family_rows(image, mask, radii, args.families.split(","), SINGLE_THREAD, args.voxel_batch)
        paper = None
        if not args.skip_paper:
            paper = paper_set(image, mask, 5, args.pyradiomics_voxels, Backend.choose(args.device))
        print_table(rows, paper)
        return
    if not args.skip_families:
        wanted = [f for f in args.features.split(",") if f] or None
        family_table(image, mask, args.radius, args.pyradiomics_voxels, args.families.split(","), wanted)
    if not args.skip_paper:
        paper_set(image, mask, args.radius, args.pyradiomics_voxels, Backend.choose(args.device))
    if not args.skip_memory:
        peak_memory()
    if args.startup:
        startup(image, mask)


if __name__ == "__main__":
    main()
