"""Compare an output folder with a reference one, PANORAMA-style (used by ``test.sh``, locally and in Docker).

Pass criteria: the detection maps share size/spacing/origin/direction and no more than ``max_differing_voxels``
voxels differ by more than ``map_tolerance``; the likelihoods differ by at most ``likelihood_tolerance``.

    python tests/container/compare.py ACTUAL_OUTPUT_DIR EXPECTED_OUTPUT_DIR

A check of the product, not part of it, so it lives beside the case it checks: ``test.sh --local`` runs it with
the host's Python, and ``test.sh`` (Docker) mounts this file read-only into the image under test and runs it with
the image's Python (it needs only numpy, SimpleITK and :mod:`pdacrad.io`), so the host needs nothing but Docker
and the image carries nothing test-only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from pdacrad.io import OUTPUT_LIKELIHOOD_RELPATH, OUTPUT_MAP_RELPATH

MAP_TOLERANCE = 1e-3
MAX_DIFFERING_VOXELS = 10
LIKELIHOOD_TOLERANCE = 1e-3


@dataclass(frozen=True)
class OutputComparison:
    """Result of :func:`compare_outputs`. ``problems`` is empty exactly when the outputs match.

    Attributes:
        differing_voxels: voxels whose map values differ by more than the tolerance (-1 when not comparable).
        max_map_difference: largest absolute map difference (NaN when not comparable).
        likelihood_difference: absolute likelihood difference (NaN when not comparable).
        problems: one human-readable line per failed criterion.
    """

    differing_voxels: int
    max_map_difference: float
    likelihood_difference: float
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """True when every criterion holds."""
        return not self.problems


def _read_likelihood(path: Path) -> float:
    value = json.loads(path.read_text())
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{path} holds {value!r}, not a bare JSON number")
    return float(value)


def _geometry_problems(actual: sitk.Image, expected: sitk.Image) -> list[str]:
    checks = {
        "size": (actual.GetSize(), expected.GetSize(), 0.0),
        "spacing": (actual.GetSpacing(), expected.GetSpacing(), 1e-6),
        "origin": (actual.GetOrigin(), expected.GetOrigin(), 1e-4),
        "direction": (actual.GetDirection(), expected.GetDirection(), 1e-6),
    }
    return [
        f"detection map {name} {a} != expected {e}"
        for name, (a, e, tol) in checks.items()
        if len(a) != len(e) or not np.allclose(a, e, rtol=0.0, atol=tol)
    ]


def compare_outputs(
    actual_dir: Path,
    expected_dir: Path,
    *,
    map_tolerance: float = MAP_TOLERANCE,
    max_differing_voxels: int = MAX_DIFFERING_VOXELS,
    likelihood_tolerance: float = LIKELIHOOD_TOLERANCE,
) -> OutputComparison:
    """Compare the two GC outputs under ``actual_dir`` with those under ``expected_dir``."""
    problems: list[str] = []
    differing, max_diff, lik_diff = -1, math.nan, math.nan
    paths = {
        name: (Path(actual_dir) / rel, Path(expected_dir) / rel)
        for name, rel in (("map", OUTPUT_MAP_RELPATH), ("likelihood", OUTPUT_LIKELIHOOD_RELPATH))
    }
    missing = [str(p) for pair in paths.values() for p in pair if not p.is_file()]
    if missing:
        return OutputComparison(differing, max_diff, lik_diff, tuple(f"missing output {m}" for m in missing))
    actual_map, expected_map = (sitk.ReadImage(str(p)) for p in paths["map"])
    if actual_map.GetPixelID() != sitk.sitkFloat32:
        problems.append(
            f"detection map pixel type is {actual_map.GetPixelIDTypeAsString()}, not 32-bit float"
        )
    geometry = _geometry_problems(actual_map, expected_map)
    problems.extend(geometry)
    if not any("size" in g for g in geometry):
        a = sitk.GetArrayViewFromImage(actual_map).astype(np.float64)
        e = sitk.GetArrayViewFromImage(expected_map).astype(np.float64)
        diff = np.abs(a - e)
        differing = int(np.count_nonzero(~(diff <= map_tolerance)))  # NaN counts as differing
        max_diff = float(np.nanmax(diff)) if diff.size else 0.0
        if differing > max_differing_voxels:
            problems.append(
                f"{differing} map voxels differ by > {map_tolerance:g} (allowed {max_differing_voxels}); "
                f"max difference {max_diff:.4g}"
            )
    try:
        actual_lik, expected_lik = (_read_likelihood(p) for p in paths["likelihood"])
        lik_diff = abs(actual_lik - expected_lik)
        if not lik_diff <= likelihood_tolerance:
            problems.append(
                f"likelihood {actual_lik:.6f} != expected {expected_lik:.6f} (tolerance {likelihood_tolerance:g})"
            )
    except ValueError as exc:
        problems.append(str(exc))
    return OutputComparison(differing, max_diff, lik_diff, tuple(problems))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: exit 0 when the outputs match, 1 otherwise (printing each problem)."""
    parser = argparse.ArgumentParser(
        description="Compare GC outputs with expected ones (PANORAMA tolerances)."
    )
    parser.add_argument("actual", type=Path)
    parser.add_argument("expected", type=Path)
    args = parser.parse_args(argv)
    result = compare_outputs(args.actual, args.expected)
    for problem in result.problems:
        sys.stderr.write(f"FAIL: {problem}\n")
    sys.stdout.write(
        f"{'PASS' if result.passed else 'FAIL'}: {result.differing_voxels} map voxel(s) differ by > {MAP_TOLERANCE:g}"
        f" (max |Δ| {result.max_map_difference:.3g}); |Δ likelihood| {result.likelihood_difference:.3g}\n"
    )
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
