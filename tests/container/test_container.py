"""The container recipe (parsed: no Docker engine in CI) and ``test.sh --local`` (run for real)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from pdacrad.inference.random_model import write_random_resources
from pdacrad.io import INPUT_IMAGE_SUBDIR, OUTPUT_LIKELIHOOD_RELPATH

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def _instructions() -> list[tuple[str, str]]:
    """Dockerfile instructions as (KEYWORD, arguments), continuation lines joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    logical = re.sub(
        r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    )
    out = []
    for line in logical.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            out.append((keyword.upper(), args.strip()))
    return out


def test_base_image_is_a_cuda_runtime_pinned_by_exact_tag():
    froms = [args for kw, args in _instructions() if kw == "FROM"]
    assert len(froms) == 1
    image, _, tag = froms[0].partition(":")
    assert image == "nvidia/cuda"
    assert re.fullmatch(r"\d+\.\d+\.\d+-cudnn-runtime-ubuntu\d\d\.\d\d", tag), tag


def test_runs_process_py_as_non_root_with_resources_baked_in():
    instructions = _instructions()
    users = [args for kw, args in instructions if kw == "USER"]
    assert users and users[-1] not in {"root", "0"}
    assert [json.loads(args) for kw, args in instructions if kw == "ENTRYPOINT"] == [["python", "process.py"]]
    copies = [args for kw, args in instructions if kw == "COPY"]
    assert "resources/ resources/" in copies and "process.py ./" in copies
    last_user = max(i for i, (kw, _) in enumerate(instructions) if kw == "USER")
    assert all(kw != "RUN" for kw, _ in instructions[last_user:]), "nothing may run as root after USER"


def test_installs_the_package_with_the_constraints_and_the_pinned_python():
    runs = " ".join(args for kw, args in _instructions() if kw == "RUN")
    assert "pip install --no-deps -c constraints.txt ." in runs
    assert "-c constraints.txt -r" in runs
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert "3.11" in requires and "python3.11" in runs


def test_scripts_are_executable_and_test_sh_runs_docker_as_panorama_does():
    for name in ("build.sh", "export.sh", "test.sh"):
        assert (ROOT / name).stat().st_mode & 0o111, f"{name} must be executable"
    script = (ROOT / "test.sh").read_text()
    for flag in ("--network none", ":/input:ro", "--gpus all"):
        assert flag in script
    assert "--shm-size" not in script, "the container must work with Docker's default /dev/shm"
    assert "docker save" in (ROOT / "export.sh").read_text()


def test_bundled_demo_input_is_one_small_ct():
    images = list((HERE / "input" / INPUT_IMAGE_SUBDIR).iterdir())
    assert len(images) == 1 and images[0].suffix == ".mha"
    assert images[0].stat().st_size <= 2 * 1024 * 1024


@pytest.fixture(scope="module")
def random_resources(tmp_path_factory) -> Path:
    return write_random_resources(
        tmp_path_factory.mktemp("container") / "resources",
        stage1_spacing_zyx=(6.0, 6.0, 6.0),
        stage2_spacing_zyx=(3.0, 3.0, 3.0),
        patch_size_zyx=(16, 64, 64),
        mirror_axes=None,
    )


def _test_sh_local(env_overrides: dict[str, str]) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, **env_overrides}
    return subprocess.run(
        ["bash", str(ROOT / "test.sh"), "--local"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def test_test_sh_local_passes_on_matching_outputs_and_fails_on_a_changed_likelihood(
    tmp_path, random_resources
):
    """Expected outputs made from the same (random) resources by process.py, then test.sh --local compares."""
    expected = tmp_path / "expected"
    cmd = [
        sys.executable,
        str(ROOT / "process.py"),
        "--input",
        str(HERE / "input"),
        "--output",
        str(expected),
    ]
    subprocess.run(
        [*cmd, "--resources", str(random_resources), "--device", "cpu"], check=True, capture_output=True
    )
    env = {"RESOURCES": str(random_resources), "EXPECTED": str(expected)}
    passed = _test_sh_local(env)
    assert passed.returncode == 0, passed.stderr[-2000:]
    assert "PASS" in passed.stdout and "outputs match" in passed.stdout

    likelihood = float((expected / OUTPUT_LIKELIHOOD_RELPATH).read_text())
    (expected / OUTPUT_LIKELIHOOD_RELPATH).write_text(
        json.dumps(min(1.0, likelihood + 0.01) if likelihood < 0.99 else 0.5)
    )
    failed = _test_sh_local(env)
    assert failed.returncode != 0
    assert "likelihood" in failed.stderr and "outputs match" not in failed.stdout


def test_test_sh_rejects_unknown_arguments():
    proc = subprocess.run(
        ["bash", str(ROOT / "test.sh"), "--bogus"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2 and "usage" in proc.stderr


DEMO_READY = (ROOT / "resources" / "manifest.json").is_file() and (HERE / "expected_output").is_dir()


@pytest.mark.skipif(not DEMO_READY, reason="resources/ (demo weights) and expected_output/ not committed yet")
def test_test_sh_local_reproduces_the_bundled_expected_output():
    proc = _test_sh_local({})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "outputs match" in proc.stdout
