from __future__ import annotations

import json
from pathlib import Path

import pytest
import SimpleITK as sitk

from pdacrad.errors import InvalidInputError
from pdacrad.io import INPUT_IMAGE_SUBDIR, find_input_image

from .conftest import ct_like


def _put(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    sitk.WriteImage(ct_like(), str(path))
    return path


def test_single_image_is_found(tmp_path: Path) -> None:
    path = _put(tmp_path / INPUT_IMAGE_SUBDIR, "1b2c.mha")
    (tmp_path / INPUT_IMAGE_SUBDIR / ".hidden.mha").write_text("not an image")
    assert find_input_image(tmp_path) == path


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_other_formats_are_accepted(tmp_path: Path, suffix: str) -> None:
    path = _put(tmp_path / INPUT_IMAGE_SUBDIR, f"case{suffix}")
    assert find_input_image(tmp_path) == path


def test_missing_input_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        find_input_image(tmp_path / "nope")


def test_missing_image_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"images/venous-ct does not exist"):
        find_input_image(tmp_path)


def test_empty_image_folder(tmp_path: Path) -> None:
    (tmp_path / INPUT_IMAGE_SUBDIR).mkdir(parents=True)
    (tmp_path / INPUT_IMAGE_SUBDIR / "notes.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="No image in"):
        find_input_image(tmp_path)


def test_two_images(tmp_path: Path) -> None:
    _put(tmp_path / INPUT_IMAGE_SUBDIR, "a.mha")
    _put(tmp_path / INPUT_IMAGE_SUBDIR, "b.mha")
    with pytest.raises(InvalidInputError, match=r"2 images in .*a\.mha, b\.mha.*exactly one"):
        find_input_image(tmp_path)


def test_inputs_json_is_used(tmp_path: Path) -> None:
    path = _put(tmp_path / "images" / "other-name", "x.mha")
    spec = [
        {"interface": {"slug": "something-else", "relative_path": "nowhere"}},
        {"interface": {"slug": "venous-phase-ct-scan", "relative_path": "images/other-name"}},
    ]
    (tmp_path / "inputs.json").write_text(json.dumps(spec))
    assert find_input_image(tmp_path) == path


def test_inputs_json_without_our_slug(tmp_path: Path) -> None:
    (tmp_path / "inputs.json").write_text(json.dumps([{"interface": {"slug": "x", "relative_path": "y"}}]))
    with pytest.raises(InvalidInputError, match="no interface with slug 'venous-phase-ct-scan'"):
        find_input_image(tmp_path)


def test_inputs_json_not_json(tmp_path: Path) -> None:
    (tmp_path / "inputs.json").write_text("{broken")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        find_input_image(tmp_path)


# --- which packaged model: --resources, Grand Challenge's /opt/ml/model/resources, or the baked-in resources/ ---


@pytest.fixture
def pdacrad_records_propagate(monkeypatch):
    """caplog listens on the root logger; an earlier configure_logging() in this session stops propagation."""
    import logging

    monkeypatch.setattr(logging.getLogger("pdacrad"), "propagate", True)


def _model_tarball_extraction(model_dir: Path) -> Path:
    resources = model_dir / "resources"
    resources.mkdir(parents=True)
    (resources / "manifest.json").write_text("{}")
    return resources


def test_resources_come_from_the_gc_model_dir_when_it_holds_a_manifest(
    tmp_path, caplog, pdacrad_records_propagate
):
    from pdacrad.io import resolve_resources_dir

    uploaded = _model_tarball_extraction(tmp_path / "opt-ml-model")
    with caplog.at_level("INFO", logger="pdacrad.io.gc"):
        chosen = resolve_resources_dir(None, tmp_path / "baked", model_dir=tmp_path / "opt-ml-model")
    assert chosen == uploaded
    assert "uploaded model tarball" in caplog.text


def test_explicit_resources_win_over_the_gc_model_dir(tmp_path):
    from pdacrad.io import resolve_resources_dir

    _model_tarball_extraction(tmp_path / "opt-ml-model")
    chosen = resolve_resources_dir(tmp_path / "mine", tmp_path / "baked", model_dir=tmp_path / "opt-ml-model")
    assert chosen == tmp_path / "mine"


def test_missing_or_empty_gc_model_dir_falls_back_silently_to_the_baked_in_model(
    tmp_path, caplog, pdacrad_records_propagate
):
    from pdacrad.io import resolve_resources_dir

    (tmp_path / "empty").mkdir()
    with caplog.at_level("WARNING"):
        assert (
            resolve_resources_dir(None, tmp_path / "baked", model_dir=tmp_path / "absent")
            == tmp_path / "baked"
        )
        assert (
            resolve_resources_dir(None, tmp_path / "baked", model_dir=tmp_path / "empty")
            == tmp_path / "baked"
        )
    assert not caplog.records


def test_gc_model_dir_without_a_resources_manifest_is_ignored_with_a_warning(
    tmp_path, caplog, pdacrad_records_propagate
):
    from pdacrad.io import resolve_resources_dir

    model_dir = tmp_path / "opt-ml-model"
    (model_dir / "stage1").mkdir(parents=True)  # e.g. a tarball packed without its resources/ folder
    with caplog.at_level("WARNING", logger="pdacrad.io.gc"):
        assert resolve_resources_dir(None, tmp_path / "baked", model_dir=model_dir) == tmp_path / "baked"
    assert "holds no resources/manifest.json" in caplog.text


def test_process_main_uses_the_gc_model_dir_unless_resources_is_given(tmp_path, monkeypatch):
    from pdacrad.cli import predict
    from pdacrad.io import gc

    monkeypatch.setattr(predict, "configure_logging", lambda verbose: None)  # no global logging changes
    uploaded = _model_tarball_extraction(tmp_path / "opt-ml-model")
    monkeypatch.setattr(gc, "GC_MODEL_DIR", tmp_path / "opt-ml-model")
    used = []
    monkeypatch.setattr(
        predict, "run_and_report", lambda i, o, resources, d, r, non_ct: used.append(resources) or 0
    )
    assert (
        predict.process_main(["--input", "in", "--output", "out"], default_resources=tmp_path / "baked") == 0
    )
    assert (
        predict.process_main(["--resources", str(tmp_path / "x")], default_resources=tmp_path / "baked") == 0
    )
    assert used == [uploaded, tmp_path / "x"]
