"""Per-case cost of `pdacrad maps --batch` (one process for every case) against one `pdacrad maps` call per case, on
small real-CT cases, where start-up dominates.

    .venv/bin/python benchmarks/batch_overhead.py            # 20 cases
    .venv/bin/python benchmarks/batch_overhead.py --cases 5  # quicker

The cases are slabs of 6 slices of the tests' abdominal CT crop and its pancreas mask (tests/data), a few hundred
ROI voxels each; maps: original_firstorder_Mean and original_glcm_Contrast at kernelRadius 1, on the CPU. Both
sides run as child processes of the installed `pdacrad` command, one after the other in this one run; a warm-up
call first fills the compiled kernels' cache so that neither side pays JIT. Prints wall and CPU seconds (user +
system of the children: the figure that stays meaningful on a shared machine) per case for each side, their ratio,
the start-up saved per case, and the load average.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' real-CT crop helper (tests/radiomics/reference.py)

from tests.radiomics.reference import real_ct_roi  # noqa: E402

FEATURES = "original_firstorder_Mean,original_glcm_Contrast"
PARAMS = "setting: {binWidth: 25}\nvoxelSetting: {kernelRadius: 1}\n"
PDACRAD = str(Path(sys.executable).parent / "pdacrad")


def write_cases(folder: Path, n: int) -> list[tuple[Path, Path]]:
    """``n`` small cases: 6-slice slabs of the CT crop at successive offsets (wrapping around)."""
    image, mask = real_ct_roi()
    nx, ny, nz = image.GetSize()
    cases = []
    for i in range(n):
        index, size = [0, 0, (3 * i) % (nz - 6)], [nx, ny, 6]
        paths = folder / f"case_{i:02d}.nii.gz", folder / f"case_{i:02d}_mask.nii.gz"
        sitk.WriteImage(sitk.RegionOfInterest(image, size, index), str(paths[0]))
        sitk.WriteImage(sitk.RegionOfInterest(mask, size, index), str(paths[1]))
        cases.append(paths)
    return cases


def timed(commands: list[list[str]]) -> tuple[float, float]:
    """Wall and children's CPU seconds of running ``commands`` one after the other (each must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    for command in commands:
        subprocess.run(command, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=20, help="number of small cases (default 20)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cases = write_cases(work, args.cases)
        params = work / "p.yaml"
        params.write_text(PARAMS)
        common = ["--params", str(params), "--features", FEATURES, "--device", "cpu"]
        one = [PDACRAD, "maps", "--image", str(cases[0][0]), "--mask", str(cases[0][1])]
        timed([[*one, "--out", str(work / "warm"), *common]])  # fills the numba cache for both sides
        separate = [
            [
                PDACRAD,
                "maps",
                "--image",
                str(i),
                "--mask",
                str(m),
                "--out",
                str(work / "one" / i.name),
                *common,
            ]
            for i, m in cases
        ]
        table = work / "cases.csv"
        with table.open("w", newline="") as handle:
            csv.writer(handle).writerows([["Image", "Mask"], *[[i.name, m.name] for i, m in cases]])
        batch = [[PDACRAD, "maps", "--batch", str(table), "--out", str(work / "batch"), *common]]
        sep_wall, sep_cpu = timed(separate)
        bat_wall, bat_cpu = timed(batch)
        done = len(list((work / "batch").glob("*/*.nii.gz")))
        assert done == 2 * args.cases, f"batch wrote {done} maps, expected {2 * args.cases}"
    n = args.cases
    print(f"{n} small cases (6-slice real-CT slabs), maps {FEATURES}, kernelRadius 1, CPU")
    print(f"{'':28}{'wall s/case':>12}{'CPU s/case':>12}")
    print(f"{'separate pdacrad maps calls':28}{sep_wall / n:12.2f}{sep_cpu / n:12.2f}")
    print(f"{'one pdacrad maps --batch':28}{bat_wall / n:12.2f}{bat_cpu / n:12.2f}")
    print(f"ratio separate / batch: wall {sep_wall / bat_wall:.1f}x, CPU {sep_cpu / bat_cpu:.1f}x")
    print(f"start-up saved per case: {(sep_wall - bat_wall) / (n - 1):.2f} s wall" if n > 1 else "")
    print(
        "load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f} on {} cores".format(
            *os.getloadavg(), os.cpu_count()
        )
    )


if __name__ == "__main__":
    main()
