"""Per-stage wall time and peak RSS of the two-stage inference on one large synthetic CT (default 512×512×100
voxels, x, y, z) — the PANORAMA-size case the container must handle within 15 min and 12 GiB on CPU.

    .venv/bin/python benchmarks/inference.py                      # with the packaged resources/ (demo weights)
    .venv/bin/python benchmarks/inference.py --random-resources   # random weights of the demo architecture

Prints one table: step, wall seconds, CPU seconds of this process (user + system, all threads: the figure that
stays meaningful on a shared machine), and peak RSS during the step (sampled every 20 ms). Progress is logged as
the steps finish.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
# The random-weights model writer is a test helper (tests/random_model.py), not part of the product package.
sys.path.insert(0, str(ROOT))
GIB = 1024**3


class RssSampler:
    """Samples this process's resident set size and CPU time in a background thread."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self._proc = psutil.Process()
        self._interval = interval_s
        self.samples: list[tuple[float, int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            cpu = self._proc.cpu_times()
            self.samples.append((time.perf_counter(), self._proc.memory_info().rss, cpu.user + cpu.system))
            time.sleep(self._interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, start: float, stop: float) -> int:
        """Largest RSS in bytes sampled in [start, stop] (the nearest sample before start if none inside)."""
        inside = [rss for t, rss, _ in self.samples if start <= t <= stop]
        before = [rss for t, rss, _ in self.samples if t < start][-1:]
        return max(inside or before or [0])

    def cpu_seconds(self, start: float, stop: float) -> float:
        """Process CPU time (user + system) spent between the samples nearest to ``start`` and ``stop``."""
        if not self.samples:
            return float("nan")
        first = min(self.samples, key=lambda s: abs(s[0] - start))
        last = min(self.samples, key=lambda s: abs(s[0] - stop))
        return last[2] - first[2]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resources", type=Path, default=ROOT / "resources")
    parser.add_argument("--random-resources", action="store_true", help="random weights, demo architecture")
    parser.add_argument("--size-xyz", type=int, nargs=3, default=(512, 512, 100))
    parser.add_argument("--spacing-xyz", type=float, nargs=3, default=(0.75, 0.75, 2.0))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=4242)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pdacrad").setLevel(logging.INFO)

    import SimpleITK as sitk
    import torch

    from pdacrad.inference import InferenceConfig, Pipeline
    from pdacrad.synth.cohort import generate_case
    from tests.random_model import write_random_resources

    rows: list[tuple[str, float, float, int]] = []
    with RssSampler() as rss, tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ct, _, record = generate_case(
            "bench",
            args.seed,
            True,
            "hypo",
            size_xyz=tuple(args.size_xyz),
            spacing_xyz_mm=tuple(args.spacing_xyz),
        )
        ct = sitk.Cast(ct, sitk.sitkInt16)
        t1 = time.perf_counter()
        rows.append(
            ("synthesise CT (not part of the algorithm)", t1 - t0, rss.cpu_seconds(t0, t1), rss.peak(t0, t1))
        )
        logging.getLogger("benchmark").warning("synthetic CT ready after %.0f s", t1 - t0)
        resources = args.resources
        if args.random_resources:
            # the architecture and plan spacings of training/configs/synthetic-demo.yaml. A random Stage 2 scatters
            # thousands of tiny tumour blobs that no trained model produces (and report_guided_annotation costs one
            # full-volume pass per blob), so its tumour class is switched off: post-processing takes its no-tumour
            # path, and the network, resampling and ROI costs are measured as they are.
            resources = write_random_resources(
                Path(tmp) / "resources",
                stage2_tumour_bias=-1000.0,
                stage1_spacing_zyx=(4.0, 2.0, 2.0),
                stage2_spacing_zyx=(3.0, 1.5, 1.5),
                patch_size_zyx=(24, 64, 64),
                features=(8, 16, 32, 64),
            )
        t_start = time.perf_counter()
        pipeline = Pipeline(InferenceConfig(resources_dir=resources, device=args.device, show_progress=False))
        t1 = time.perf_counter()
        rows.append(
            (
                "verify resources + load both models",
                t1 - t_start,
                rss.cpu_seconds(t_start, t1),
                rss.peak(t_start, t1),
            )
        )
        t_predict = time.perf_counter()
        result = pipeline.predict(ct)
        t_end = time.perf_counter()
        cursor = t_predict
        for step, seconds in result.seconds.items():
            window = (cursor, cursor + seconds)
            rows.append((step, seconds, rss.cpu_seconds(*window), rss.peak(*window)))
            cursor += seconds
    total = t_end - t_start
    peak = max([0, *(r for t, r, _ in rss.samples if t >= t_start)])
    cpu_total = rss.cpu_seconds(t_start, t_end)
    print(
        f"\nInference benchmark: CT {tuple(args.size_xyz)} voxels (x, y, z) at {tuple(args.spacing_xyz)} mm, "
        f"device {args.device}, torch threads {torch.get_num_threads()}, cpu count {psutil.cpu_count()}, "
        f"resources {'random (demo architecture)' if args.random_resources else resources}"
    )
    print(
        f"case: {record}; pancreas found: {result.pancreas_found}; ROI {result.roi}; likelihood {result.likelihood:.4f}"
    )
    print(f"\n| {'step':<42} | {'wall s':>8} | {'CPU s':>8} | {'peak RSS (GiB)':>14} |")
    print(f"|{'-' * 44}|{'-' * 10}|{'-' * 10}|{'-' * 16}|")
    for step, seconds, cpu, peak_rss in rows:
        print(f"| {step:<42} | {seconds:8.1f} | {cpu:8.1f} | {peak_rss / GIB:14.2f} |")
    print(
        f"| {'algorithm total (load + predict)':<42} | {total:8.1f} | {cpu_total:8.1f} | {peak / GIB:14.2f} |"
    )
    print(f"\ntargets: ≤ 900 s and ≤ 12 GiB → {'MET' if total <= 900 and peak <= 12 * GIB else 'NOT MET'}")


if __name__ == "__main__":
    main()
