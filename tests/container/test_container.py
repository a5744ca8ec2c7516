"""The container scripts without Docker (CI has no engine): ``test.sh --local`` run for real, ``export.sh --model``'s
tarball, the one-command Docker check. The Docker image itself is checked by ``make container-test``
(docker/container-test.sh), whose numbers are in benchmarks/RESULTS.md; tests/container/test_runtime_deps.py checks
that the image's dependency set runs process.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from pdacrad.io import INPUT_IMAGE_SUBDIR, OUTPUT_LIKELIHOOD_RELPATH

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def test_scripts_are_executable_and_the_docker_check_is_one_command():
    for name in ("build.sh", "export.sh", "test.sh", "docker/container-test.sh", "docker/local-base.sh"):
        assert (ROOT / name).stat().st_mode & 0o111, f"{name} must be executable"
    proc = subprocess.run(
        ["make", "-n", "container-test"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and "docker/container-test.sh" in proc.stdout


def test_export_model_writes_a_tarball_that_gc_extraction_turns_into_the_models_resources(tmp_path):
    """./export.sh --model: one top-level resources/ folder holding every manifest file with its checksum, so that
    extracted at /opt/ml/model it verifies and is the folder process.py picks."""
    from pdacrad.io import resolve_resources_dir
    from pdacrad.model.manifest import load_manifest, verify_resources

    tarball = tmp_path / "model.tar.gz"
    proc = subprocess.run(
        ["bash", str(ROOT / "export.sh"), "--model", str(tarball)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    with tarfile.open(tarball) as tar:
        members = tar.getmembers()
        assert {m.name.split("/")[0] for m in members} == {"resources"}
        assert all(m.uid == 0 and m.gid == 0 for m in members)
        tar.extractall(tmp_path / "opt-ml-model", filter="data")
    extracted = tmp_path / "opt-ml-model" / "resources"
    assert load_manifest(extracted).files == load_manifest(ROOT / "resources").files
    verify_resources(extracted)
    assert resolve_resources_dir(None, ROOT / "resources", model_dir=tmp_path / "opt-ml-model") == extracted


def test_export_rejects_unknown_options():
    proc = subprocess.run(
        ["bash", str(ROOT / "export.sh"), "--bogus"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_bundled_demo_input_is_one_small_ct():
    images = list((HERE / "input" / INPUT_IMAGE_SUBDIR).iterdir())
    assert len(images) == 1 and images[0].suffix == ".mha"
    assert images[0].stat().st_size <= 2 * 1024 * 1024


def _test_sh_local(env_overrides: dict[str, str]) -> subprocess.CompletedProcess:
    # this checkout's pdacrad, also where another one is installed in the environment
    pythonpath = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "PYTHONPATH": pythonpath, **env_overrides}
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
