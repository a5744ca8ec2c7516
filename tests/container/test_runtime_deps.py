"""The runtime dependency set (pyproject ``[project].dependencies``, what the image installs) is enough for what the
container runs: ``process.py`` on a case, ``pdacrad predict``/``cohort``, the case report. Checked without Docker:
a subprocess blocks every module that only distributions *outside* the runtime set's closure provide (the extras:
training, analysis, dev tools), plus what the image leaves out (triton, the training tree), then runs the case."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pdacrad.io import OUTPUT_LIKELIHOOD_RELPATH, OUTPUT_MAP_RELPATH

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

#: Left out of the image on purpose (Dockerfile): triton serves only torch.compile; the training tree is not copied.
LEFT_OUT_OF_THE_IMAGE = {"triton"}
LEFT_OUT_MODULES = {"pdacrad_train"}


def runtime_requirements() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def distribution_closure(requirements: list[str]) -> set[str]:
    """Canonical names of the installed distributions that ``requirements`` pull in (markers evaluated here)."""
    seen: set[tuple[str, str]] = set()
    names: set[str] = set()
    stack = [Requirement(r) for r in requirements]
    while stack:
        req = stack.pop()
        name = canonicalize_name(req.name)
        extras = sorted(req.extras) or [""]
        if all((name, e) in seen for e in extras):
            continue
        seen.update((name, e) for e in extras)
        names.add(name)
        for line in metadata.distribution(req.name).requires or []:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                stack.append(sub)
    return names


def blocked_modules() -> list[str]:
    """Top-level modules that no distribution of the runtime set provides, but something installed here does."""
    allowed = (distribution_closure(runtime_requirements()) - LEFT_OUT_OF_THE_IMAGE) | {"pdacrad"}
    blocked = {
        module
        for module, dists in metadata.packages_distributions().items()
        if not {canonicalize_name(d) for d in dists} & allowed and module not in sys.stdlib_module_names
    }
    return sorted((blocked | LEFT_OUT_MODULES) - {"pdacrad", "tests"})


_BLOCKER = """
import json, sys
BLOCKED = set(json.loads(sys.argv[1]))
class RuntimeSetOnly:  # wraps each finder: a blocked module is simply not found, as if not installed
    def __init__(self, finder):
        self.finder = finder
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            return None
        return self.finder.find_spec(name, path, target)
    def invalidate_caches(self):
        getattr(self.finder, "invalidate_caches", lambda: None)()
sys.meta_path[:] = [RuntimeSetOnly(f) if hasattr(f, "find_spec") else f for f in sys.meta_path]
"""


def _run_with_runtime_set_only(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TQDM_")}  # as a container starts
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-c", _BLOCKER + code, json.dumps(blocked_modules()), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
        check=False,
    )


def test_the_runtime_set_excludes_the_extras_and_the_blocker_bites():
    closure = distribution_closure(runtime_requirements())
    for extra_only in ("xgboost-cpu", "shap", "scikit-survival", "pingouin", "neurocombat", "pytest", "ruff"):
        assert extra_only not in closure, f"{extra_only} leaked into the runtime set"
    assert {"torch", "nnunetv2", "pyradiomics-bhklab", "simpleitk", "numba"} <= closure
    blocked = blocked_modules()
    assert {"pdacrad_train", "triton"} <= set(blocked)
    proc = _run_with_runtime_set_only("import pytest")
    assert proc.returncode != 0 and "ModuleNotFoundError: No module named 'pytest'" in proc.stderr


def test_every_runtime_requirement_is_pinned_and_in_the_constraints():
    constraints = {
        canonicalize_name(m.group(1)): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M)
    }
    for line in runtime_requirements():
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"{line} is not pinned"
        assert constraints.get(canonicalize_name(req.name)) == spec.version, (
            f"{line} differs from constraints.txt"
        )


@pytest.mark.slow
def test_process_py_and_the_cli_run_on_the_runtime_set_alone(tmp_path, random_resources):
    """The real case, end to end, with every non-runtime module unimportable (what the image holds), logging as
    in a container."""
    code = """
import runpy
sys.argv = ["process.py", "--input", sys.argv[2], "--output", sys.argv[3], "--resources", sys.argv[4],
            "--device", "cpu"]
try:
    runpy.run_path("process.py", run_name="__main__")
except SystemExit as exc:
    assert not exc.code, f"process.py exited with {exc.code}"
import pdacrad.inference.cohort, pdacrad.inference.report, pdacrad.cli  # the container's other commands import on the runtime set
from typer.testing import CliRunner
result = CliRunner().invoke(pdacrad.cli.app, ["predict", "--help"])
assert result.exit_code == 0, result.output
leaked = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
assert not leaked, leaked
print("runtime-set run ok")
"""
    out = tmp_path / "out"
    proc = _run_with_runtime_set_only(code, str(HERE / "input"), str(out), str(random_resources))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "runtime-set run ok" in proc.stdout
    # a container log (stderr is a pipe): no progress bars, no PyRadiomics notes, one line per record
    assert "it/s]" not in proc.stderr and "\r" not in proc.stderr and "symmetrical" not in proc.stderr
    assert "case done in" in proc.stderr
    assert (out / OUTPUT_MAP_RELPATH).is_file() and (out / OUTPUT_LIKELIHOOD_RELPATH).is_file()
