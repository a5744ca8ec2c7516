"""Randomly initialised nnU-Net v2 model folders in the exact on-disk format of trained ones (a test helper:
used by tests/ and benchmarks/inference.py, never by the product).

For plumbing checks only: tests and benchmarks exercise loading, sliding-window prediction, resampling and
post-processing — with the cost of a real network of the chosen size — without trained weights. Predictions are
meaningless; ``write_random_resources`` marks its manifest ``"demo": true`` and ``trained_on: "nothing"``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from pdacrad.labels import PANORAMA_LABELS, STAGE1_LABELS
from pdacrad.model.manifest import STAGE1_DIRNAME, STAGE2_DIRNAME, write_manifest

CONFIGURATION = "3d_fullres"
# CT intensity statistics in HU used by CTNormalization (values of the PANORAMA Stage-2 plans)
_CT_PROPERTIES = {"mean": 109.6, "std": 77.4, "percentile_00_5": -55.0, "percentile_99_5": 430.0}


def _plans(
    spacing_zyx: Sequence[float], patch_size_zyx: Sequence[int], features: Sequence[int], n_channels: int
) -> dict[str, Any]:
    n_stages = len(features)
    strides = [[1, 1, 1]] + [[2, 2, 2]] * (n_stages - 1)
    arch_kwargs = {
        "n_stages": n_stages,
        "features_per_stage": list(features),
        "conv_op": "torch.nn.modules.conv.Conv3d",
        "kernel_sizes": [[3, 3, 3]] * n_stages,
        "strides": strides,
        "n_conv_per_stage": [1] * n_stages,
        "n_conv_per_stage_decoder": [1] * (n_stages - 1),
        "conv_bias": True,
        "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
        "norm_op_kwargs": {"eps": 1e-05, "affine": True},
        "dropout_op": None,
        "dropout_op_kwargs": None,
        "nonlin": "torch.nn.LeakyReLU",
        "nonlin_kwargs": {"inplace": True},
    }
    interp = {"order_z": 0, "force_separate_z": None}
    configuration = {
        "data_identifier": f"nnUNetPlans_{CONFIGURATION}",
        "preprocessor_name": "DefaultPreprocessor",
        "batch_size": 2,
        "patch_size": list(patch_size_zyx),
        "median_image_size_in_voxels": list(patch_size_zyx),
        "spacing": list(spacing_zyx),
        "normalization_schemes": ["CTNormalization"] * n_channels,
        "use_mask_for_norm": [False] * n_channels,
        "resampling_fn_data": "resample_data_or_seg_to_shape",
        "resampling_fn_seg": "resample_data_or_seg_to_shape",
        "resampling_fn_data_kwargs": {"is_seg": False, "order": 3, **interp},
        "resampling_fn_seg_kwargs": {"is_seg": True, "order": 1, **interp},
        "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
        "resampling_fn_probabilities_kwargs": {"is_seg": False, "order": 1, **interp},
        "architecture": {
            "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
            "arch_kwargs": arch_kwargs,
            "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
        },
        "batch_dice": False,
    }
    return {
        "dataset_name": "Dataset000_Random",
        "plans_name": "nnUNetPlans",
        "original_median_spacing_after_transp": list(spacing_zyx),
        "original_median_shape_after_transp": list(patch_size_zyx),
        "image_reader_writer": "SimpleITKIO",
        "transpose_forward": [0, 1, 2],
        "transpose_backward": [0, 1, 2],
        "configurations": {CONFIGURATION: configuration},
        "experiment_planner_used": "ExperimentPlanner",
        "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {
            str(c): {**_CT_PROPERTIES, "median": _CT_PROPERTIES["mean"], "min": -1024.0, "max": 3071.0}
            for c in range(n_channels)
        },
    }


def write_random_model_folder(
    folder: Path,
    *,
    labels: Mapping[str, int],
    spacing_zyx: Sequence[float],
    patch_size_zyx: Sequence[int],
    features: Sequence[int] = (4, 8, 16),
    n_channels: int = 1,
    class_bias: Sequence[float] | None = None,
    seed: int = 0,
    trainer_name: str = "nnUNetTrainer",
    mirror_axes: tuple[int, ...] | None = (0, 1, 2),
) -> Path:
    """Write ``dataset.json``, ``plans.json`` and ``fold_0/checkpoint_final.pth`` of a PlainConvUNet with random
    (seeded) weights.

    Args:
        folder: created if missing.
        labels: nnU-Net ``labels`` (name → value, background 0).
        spacing_zyx: plan spacing in mm, (z, y, x).
        patch_size_zyx: patch in voxels, (z, y, x); each divisible by 2^(len(features)-1).
        features: channels per encoder stage (also sets the number of stages).
        n_channels: input channels (channel 0 is CT, the rest generic maps normalised as CT).
        class_bias: added to the output layer's bias per class (logits), to steer a random model towards or
            away from a class (e.g. a very negative pancreas bias gives a model that never finds a pancreas).
        seed: torch seed of the initialisation.
        trainer_name: recorded in the checkpoint; must be findable by :func:`pdacrad.nnunet_ext.find_trainer`.
        mirror_axes: ``inference_allowed_mirroring_axes`` recorded in the checkpoint (``None``: no mirroring TTA).
    """
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

    folder = Path(folder)
    (folder / "fold_0").mkdir(parents=True, exist_ok=True)
    plans = _plans(spacing_zyx, patch_size_zyx, features, n_channels)
    channel_names = {"0": "CT", **{str(c): f"map{c}" for c in range(1, n_channels)}}
    dataset = {
        "channel_names": channel_names,
        "labels": dict(labels),
        "numTraining": 0,
        "file_ending": ".nii.gz",
    }
    arch = plans["configurations"][CONFIGURATION]["architecture"]
    torch.manual_seed(seed)
    network = get_network_from_plans(
        arch["network_class_name"],
        arch["arch_kwargs"],
        arch["_kw_requires_import"],
        n_channels,
        len(labels),
        allow_init=True,
        deep_supervision=False,
    )
    if class_bias is not None:
        head = network.decoder.seg_layers[-1]
        with torch.no_grad():
            head.bias += torch.as_tensor(list(class_bias), dtype=head.bias.dtype)
    checkpoint = {
        "network_weights": network.state_dict(),
        "init_args": {"plans": plans, "configuration": CONFIGURATION, "fold": 0, "dataset_json": dataset},
        "trainer_name": trainer_name,
        "inference_allowed_mirroring_axes": mirror_axes,
        "current_epoch": 0,
    }
    (folder / "dataset.json").write_text(json.dumps(dataset, indent=2), encoding="utf-8")
    (folder / "plans.json").write_text(json.dumps(plans, indent=2), encoding="utf-8")
    torch.save(checkpoint, folder / "fold_0" / "checkpoint_final.pth")
    return folder


def write_random_resources(
    resources_dir: Path,
    *,
    stage1_pancreas_bias: float = 0.0,
    stage2_tumour_bias: float = 0.0,
    stage1_spacing_zyx: Sequence[float] = (6.0, 3.0, 3.0),
    stage2_spacing_zyx: Sequence[float] = (3.0, 1.5, 1.5),
    patch_size_zyx: Sequence[int] = (16, 32, 32),
    features: Sequence[int] = (4, 8, 16),
    mirror_axes: tuple[int, ...] | None = (0, 1, 2),
    seed: int = 0,
) -> Path:
    """A complete random ``resources/`` (stage1 binary pancreas, stage2 PANORAMA labels, manifest).

    ``stage1_pancreas_bias`` / ``stage2_tumour_bias`` shift the pancreas / PDAC logits (see ``class_bias``).
    """
    resources_dir = Path(resources_dir)
    write_random_model_folder(
        resources_dir / STAGE1_DIRNAME,
        labels=STAGE1_LABELS,
        spacing_zyx=stage1_spacing_zyx,
        patch_size_zyx=patch_size_zyx,
        features=features,
        class_bias=(0.0, stage1_pancreas_bias),
        mirror_axes=mirror_axes,
        seed=seed,
    )
    stage2_bias = [0.0] * len(PANORAMA_LABELS)
    stage2_bias[PANORAMA_LABELS["PDAC"]] = stage2_tumour_bias
    write_random_model_folder(
        resources_dir / STAGE2_DIRNAME,
        labels=PANORAMA_LABELS,
        spacing_zyx=stage2_spacing_zyx,
        patch_size_zyx=patch_size_zyx,
        features=features,
        class_bias=stage2_bias,
        mirror_axes=mirror_axes,
        seed=seed + 1,
    )
    write_manifest(resources_dir, demo=True, trained_on="nothing (random weights)", training_config="none")
    return resources_dir
