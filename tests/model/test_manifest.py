"""resources/manifest.json: written by export, verified at start-up; every defect is a ResourceError naming
the file."""

from __future__ import annotations

import json
import logging

import pytest

from pdacrad.errors import ResourceError
from pdacrad.model.manifest import DEMO_WARNING, load_manifest, sha256_file, verify_resources, write_manifest


@pytest.fixture
def package(tmp_path):
    root = tmp_path / "resources"
    for rel, content in {
        "stage1/plans.json": b"{}",
        "stage1/fold_0/checkpoint_final.pth": b"weights-1",
        "stage2/dataset.json": b"{}",
        "radiomics.json": b"{}",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    write_manifest(root, demo=True, trained_on="synthetic", training_config="synthetic-demo.yaml")
    return root


def test_written_manifest_lists_every_file_with_its_sha256(package):
    manifest = load_manifest(package)
    assert set(manifest.files) == {
        "stage1/plans.json",
        "stage1/fold_0/checkpoint_final.pth",
        "stage2/dataset.json",
        "radiomics.json",
    }
    assert manifest.files["stage1/fold_0/checkpoint_final.pth"] == sha256_file(
        package / "stage1/fold_0/checkpoint_final.pth"
    )
    raw = json.loads((package / "manifest.json").read_text())
    assert raw["demo"] is True and raw["format_version"] == 1 and raw["created"]


def test_verify_passes_and_logs_the_demo_warning(package):
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("pdacrad.model.manifest")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        assert verify_resources(package).demo
    finally:
        logger.removeHandler(handler)
    assert any(DEMO_WARNING in r.getMessage() for r in records)


def test_corrupted_file_is_named(package):
    path = package / "stage1/fold_0/checkpoint_final.pth"
    path.write_bytes(b"weights-2")
    with pytest.raises(ResourceError, match=r"stage1/fold_0/checkpoint_final\.pth is corrupt"):
        verify_resources(package)


def test_missing_file_manifest_and_bad_json_are_named(package):
    (package / "stage2/dataset.json").unlink()
    with pytest.raises(ResourceError, match=r"stage2/dataset\.json is listed in the manifest but missing"):
        verify_resources(package)
    (package / "manifest.json").write_text("{broken")
    with pytest.raises(ResourceError, match=r"manifest\.json is not valid JSON"):
        verify_resources(package)
    (package / "manifest.json").unlink()
    with pytest.raises(ResourceError, match=r"manifest\.json is missing"):
        verify_resources(package)
    with pytest.raises(ResourceError, match="does not exist"):
        verify_resources(package / "nope")


def test_a_stage_not_listed_or_a_path_escaping_the_folder_is_refused(package):
    raw = json.loads((package / "manifest.json").read_text())
    raw["files"] = {k: v for k, v in raw["files"].items() if not k.startswith("stage2/")}
    (package / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ResourceError, match="no file under stage2/"):
        verify_resources(package)
    raw["files"]["stage2/../../etc/passwd"] = "0" * 64
    (package / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ResourceError, match="outside the folder"):
        verify_resources(package)
