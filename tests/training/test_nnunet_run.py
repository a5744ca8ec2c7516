"""Plans overrides: the topology nnU-Net would compute for the new patch, cut to the requested depth."""

from __future__ import annotations

import copy

from pdacrad_train.config import StageConfig
from pdacrad_train.nnunet_run import apply_plans_overrides


def _plans() -> dict:
    arch = {
        "n_stages": 5,
        "features_per_stage": [32, 64, 128, 256, 320],
        "kernel_sizes": [[1, 3, 3]] + [[3, 3, 3]] * 4,
        "strides": [[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2]],
        "n_conv_per_stage": [2] * 5,
        "n_conv_per_stage_decoder": [2] * 4,
    }
    full = {
        "spacing": [5.0, 2.5, 2.5],
        "patch_size": [48, 96, 96],
        "batch_size": 9,
        "architecture": {"arch_kwargs": arch},
    }
    return {"configurations": {"2d": {"patch_size": [96, 96]}, "3d_fullres": full}}


def test_patch_stages_features_and_batch_are_overridden_consistently() -> None:
    plans = _plans()
    original = copy.deepcopy(plans)
    stage = StageConfig(
        dataset_id=1, dataset_name="x", patch_size_zyx=(20, 48, 48), base_features=8, max_features=64,
        max_stages=4, batch_size=2,
    )  # fmt: skip
    out = apply_plans_overrides(plans, stage)
    assert plans == original  # the input is not modified
    assert list(out["configurations"]) == ["3d_fullres"]
    conf = out["configurations"]["3d_fullres"]
    arch = conf["architecture"]["arch_kwargs"]
    assert conf["patch_size"] == [20, 48, 48] and conf["batch_size"] == 2
    assert (
        arch["n_stages"]
        == 4
        == len(arch["strides"])
        == len(arch["kernel_sizes"])
        == len(arch["n_conv_per_stage"])
    )
    assert len(arch["n_conv_per_stage_decoder"]) == 3
    assert arch["features_per_stage"] == [8, 16, 32, 64]
    # The patch is divisible by the product of the strides on every axis (what the U-Net needs).
    for axis in range(3):
        total = 1
        for stride in arch["strides"]:
            total *= stride[axis]
        assert conf["patch_size"][axis] % total == 0
    # Anisotropic spacing (5 mm vs 2.5 mm): the first stride does not pool along z.
    assert arch["strides"][1][0] == 1


def test_none_keeps_nnunets_plan() -> None:
    out = apply_plans_overrides(_plans(), StageConfig(dataset_id=1, dataset_name="x"))
    assert out["configurations"]["3d_fullres"] == _plans()["configurations"]["3d_fullres"]


def test_raw_dataset_digest_changes_when_a_channel_or_dataset_json_changes(tmp_path) -> None:
    """The preprocessing marker: maps recomputed from other masks must not reuse old preprocessed arrays."""
    import os

    from pdacrad_train.nnunet_run import raw_dataset_digest

    raw = tmp_path / "Dataset901_X"
    (raw / "imagesTr").mkdir(parents=True)
    (raw / "labelsTr").mkdir()
    (raw / "dataset.json").write_text('{"channel_names": {"0": "CT"}}')
    (raw / "imagesTr" / "a_0000.nii.gz").write_bytes(b"ct")
    (raw / "imagesTr" / "a_0001.nii.gz").write_bytes(b"map")
    (raw / "labelsTr" / "a.nii.gz").write_bytes(b"label")
    first = raw_dataset_digest(raw)
    assert raw_dataset_digest(raw) == first
    channel = raw / "imagesTr" / "a_0001.nii.gz"
    channel.write_bytes(b"other map")  # recomputed from other masks: new size and time
    second = raw_dataset_digest(raw)
    assert second != first
    stat = channel.stat()
    os.utime(channel, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # same size, rewritten later
    assert raw_dataset_digest(raw) != second
    third = raw_dataset_digest(raw)
    (raw / "dataset.json").write_text('{"channel_names": {"0": "CT", "1": "x_y_z"}}')
    assert raw_dataset_digest(raw) != third
