"""convert: labels mapped per stage, ROI crops with margins in mm clipped at the borders, geometry kept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml
from pdacrad_train.config import load_config
from pdacrad_train.steps.prepare import convert
from pdacrad_train.workspace import workspace

from pdacrad.errors import InvalidInputError

CONFIGS = Path(__file__).resolve().parents[3] / "training" / "configs"


def tiny_config(tmp_path: Path, cohort: Path, **stage_overrides) -> Path:
    """The demo config pointed at a folder cohort, with small margins so that crops are visible."""
    data = yaml.safe_load((CONFIGS / "synthetic-demo.yaml").read_text())
    data["cohort"] = {"source": "folder", "path": str(cohort)}
    data["work_dir"] = str(tmp_path / "work")
    data["stage2"]["margins_mm_xyz"] = [10.0, 5.0, 4.0]
    for stage in ("stage1", "stage2"):
        data[stage].update(stage_overrides)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def isolated_nnunet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        monkeypatch.delenv(name, raising=False)


def test_convert_writes_both_datasets(tmp_path: Path, tiny_cohort: Path, isolated_nnunet_env: None) -> None:
    config = load_config(tiny_config(tmp_path, tiny_cohort))
    ws = workspace(config)
    table = convert(config, ws, progress=False)

    assert list(table["case"]) == ["case_000", "case_001", "case_002"]
    assert list(table["label"]) == [0, 1, 1]
    assert list(table["lesion_voxels"]) == [0, 27, 100]  # case_002: 5 × 5 × 5 cube cut to 4 slices
    assert pd.read_csv(ws.cases_table)["lesion_voxels"].tolist() == [0, 27, 100]
    assert ws.nnunet_raw == tmp_path / "work" / "nnUNet_raw"  # defaulted under the work dir

    s1, s2 = ws.raw_dataset(config.stage1), ws.raw_dataset(config.stage2)
    assert json.loads((s1 / "dataset.json").read_text())["labels"] == {"background": 0, "pancreas": 1}
    assert json.loads((s2 / "dataset.json").read_text())["labels"]["PDAC"] == 1
    assert json.loads((s2 / "dataset.json").read_text())["numTraining"] == 3

    original = sitk.ReadImage(str(tiny_cohort / "labelsTr" / "case_001.nii.gz"))
    original_zyx = sitk.GetArrayFromImage(original)
    # Stage 1: same grid, binary pancreas = labels 1, 4, 5; the CT is the original file unchanged.
    s1_label = sitk.ReadImage(str(s1 / "labelsTr" / "case_001.nii.gz"))
    assert s1_label.GetSize() == original.GetSize() and s1_label.GetOrigin() == original.GetOrigin()
    assert np.array_equal(sitk.GetArrayFromImage(s1_label), np.isin(original_zyx, (1, 4, 5)).astype(np.uint8))
    ct = tiny_cohort / "imagesTr" / "case_001_0000.nii.gz"
    assert (s1 / "imagesTr" / "case_001_0000.nii.gz").read_bytes() == ct.read_bytes()
    assert (s1 / "imagesTr" / "case_001_0000.nii.gz").samefile(ct)  # a hard link, not a copy

    # Stage 2: pancreas box x 16..32, y 17..23, z 6..10 on a 2 × 2.5 × 4 mm grid, margins 10/5/4 mm
    # → 5, 2, 1 voxels: x 11..37, y 15..25, z 5..11 (all inside the 48 × 40 × 16 image).
    s2_label = sitk.ReadImage(str(s2 / "labelsTr" / "case_001.nii.gz"))
    s2_ct = sitk.ReadImage(str(s2 / "imagesTr" / "case_001_0000.nii.gz"))
    assert s2_label.GetSize() == (27, 11, 7) == s2_ct.GetSize()
    assert np.allclose(s2_label.GetOrigin(), original.TransformIndexToPhysicalPoint((11, 15, 5)))
    assert s2_label.GetSpacing() == original.GetSpacing()
    assert np.array_equal(sitk.GetArrayFromImage(s2_label), original_zyx[5:12, 15:26, 11:38])
    assert set(np.unique(sitk.GetArrayFromImage(s2_label))) == {0, 1, 4, 5}
    assert s2_ct.GetPixelID() == sitk.sitkInt16

    # case_002's pancreas touches the x = 0 and z = 0 borders: the crop is clipped there.
    assert table.loc[2, "roi_index_xyz"].split()[0] == "0" and table.loc[2, "roi_index_xyz"].split()[2] == "0"


def test_convert_is_resumable(tmp_path: Path, tiny_cohort: Path, isolated_nnunet_env: None) -> None:
    config = load_config(tiny_config(tmp_path, tiny_cohort))
    ws = workspace(config)
    convert(config, ws, progress=False)
    target = ws.raw_dataset(config.stage2) / "imagesTr" / "case_000_0000.nii.gz"
    stamp = target.stat().st_mtime_ns
    target_missing = ws.raw_dataset(config.stage1) / "labelsTr" / "case_002.nii.gz"
    target_missing.unlink()
    convert(config, ws, progress=False)
    assert target.stat().st_mtime_ns == stamp  # finished outputs are not rewritten
    assert target_missing.is_file()  # missing ones are


def test_convert_rejects_a_case_without_pancreas(
    tmp_path: Path, tiny_cohort: Path, isolated_nnunet_env
) -> None:
    label_path = tiny_cohort / "labelsTr" / "case_000.nii.gz"
    label = sitk.ReadImage(str(label_path))
    empty = sitk.GetArrayFromImage(label)
    empty[np.isin(empty, (1, 4, 5))] = 0
    image = sitk.GetImageFromArray(empty)
    image.CopyInformation(label)
    sitk.WriteImage(image, str(label_path))
    config = load_config(tiny_config(tmp_path, tiny_cohort))
    with pytest.raises(InvalidInputError, match="case_000: the label has no pancreas"):
        convert(config, workspace(config), progress=False)


def test_nnunet_environment_variables_win(tmp_path: Path, tiny_cohort: Path, monkeypatch) -> None:
    monkeypatch.setenv("nnUNet_raw", str(tmp_path / "elsewhere_raw"))
    config = load_config(tiny_config(tmp_path, tiny_cohort))
    ws = workspace(config)
    convert(config, ws, progress=False)
    assert (tmp_path / "elsewhere_raw" / config.stage1.dataset_folder_name / "dataset.json").is_file()


def test_a_synth_cohort_in_the_config_is_the_synth_command(tmp_path: Path) -> None:
    """The synth keys of `cohort:` give the bytes `pdacrad synth` gives with the same options (lesion mix,
    balanced sizes, confounders), so a study's config alone makes its cohort; bad shares fail at load."""
    from pdacrad_train.steps.prepare import prepare_cohort
    from typer.testing import CliRunner

    from pdacrad.cli import app as pdacrad_app

    base = yaml.safe_load((CONFIGS / "synthetic-demo.yaml").read_text())
    options = {"lesion_mix": "texture=0.4,hypo=0.3,both=0.3", "confounders": "dilated_cbd=0.5,high_noise=0.5"}
    base["cohort"] = {"source": "synth", "n": 4, "seed": 7, "balanced_sizes": True, "size_xyz": [64, 64, 32]}
    base["cohort"].update(options, lesion_diameter_mm=[8, 30])
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(base))
    config = load_config(tmp_path / "c.yaml", tmp_path / "work")
    made = prepare_cohort(config, workspace(config))
    args = ["synth", "--out", str(tmp_path / "cli"), "--n", "4", "--seed", "7", "--size", "64,64,32"]
    args += ["--lesion-mix", options["lesion_mix"], "--confounders", options["confounders"]]
    args += ["--balanced-sizes", "--lesion-diameter", "8,30"]
    result = CliRunner().invoke(pdacrad_app, args)
    assert result.exit_code == 0, result.output
    assert (made / "cases.csv").read_bytes() == (tmp_path / "cli" / "cases.csv").read_bytes()
    table = pd.read_csv(made / "cases.csv")
    assert table["dilated_cbd"].sum() + table["high_noise"].sum() > 0
    for path in sorted((tmp_path / "cli").rglob("*.nii.gz")):
        assert (made / path.relative_to(tmp_path / "cli")).read_bytes() == path.read_bytes(), path.name
    base["cohort"]["confounders"] = "dilated_cbd=1.5"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(base))
    with pytest.raises(InvalidInputError, match=r"cohort\.confounders"):
        load_config(tmp_path / "bad.yaml", tmp_path / "work")
