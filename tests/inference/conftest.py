"""Fixtures for the inference tests: small randomly initialised model packages (the real nnU-Net on-disk format)
and the real abdominal CT from tests/data."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import SimpleITK as sitk
import torch

from pdacrad.model.manifest import write_manifest
from pdacrad.model.radiomics_spec import ModelInputs, RadiomicsSpec
from pdacrad.nnunet_ext.networks.radiomics_net import build_radiomics_unet
from tests.random_model import write_random_resources

DATA = Path(__file__).resolve().parents[1] / "data"
# Small plans so that a case takes seconds on 2 CPU cores: Stage 1 at 6 mm, Stage 2 at 3 mm, one patch size.
SMALL = {
    "stage1_spacing_zyx": (6.0, 6.0, 6.0),
    "stage2_spacing_zyx": (3.0, 3.0, 3.0),
    "patch_size_zyx": (16, 64, 64),
    "mirror_axes": None,
}


# --- random Stage-2 packages of the four variants (base, maps, global, both) ---
PLANS_KEY = "pdacrad_radiomics"
MAP_FEATURES = ("original_firstorder_Mean", "original_firstorder_Median")
GLOBAL_FEATURES = ("original_shape_VoxelVolume", "original_firstorder_Mean", "original_firstorder_Maximum")
_SETTING = {"binWidth": 25, "label": 1}


def full_spec() -> RadiomicsSpec:
    """Cheap features only (first order, shape; maps at kernel radius 1)."""
    return RadiomicsSpec(
        params={
            "setting": _SETTING,
            "imageType": {"Original": {}},
            "featureClass": {"shape": ["VoxelVolume"], "firstorder": ["Mean", "Maximum"]},
        },
        global_features=GLOBAL_FEATURES,
        mean=(50_000.0, 40.0, 200.0),
        std=(20_000.0, 30.0, 100.0),
        map_features=MAP_FEATURES,
        map_params={
            "setting": _SETTING,
            "voxelSetting": {"kernelRadius": 1, "maskedKernel": True, "initValue": 0.0},
            "imageType": {"Original": {}},
            "featureClass": {"firstorder": ["Mean", "Median"]},
        },
    )


def _rewrite(folder: Path, *, maps: tuple[str, ...], global_features: tuple[str, ...], seed: int) -> None:
    """Turn a random plain Stage-2 folder into the network of a variant: channels CT + ``maps`` (z-scored), and
    with ``global_features`` a RadiomicsUNet conditioned on them (plans block; FiLM made non-zero)."""
    dataset = json.loads((folder / "dataset.json").read_text())
    dataset["channel_names"] = {"0": "CT", **{str(i): n for i, n in enumerate(maps, start=1)}}
    plans = json.loads((folder / "plans.json").read_text())
    conf = plans["configurations"]["3d_fullres"]
    n_in = 1 + len(maps)
    conf["normalization_schemes"] = ["CTNormalization"] + ["ZScoreNormalization"] * len(maps)
    conf["use_mask_for_norm"] = [False] * n_in
    plans["foreground_intensity_properties_per_channel"] = {
        str(c): plans["foreground_intensity_properties_per_channel"]["0"] for c in range(n_in)
    }
    arch = conf["architecture"]
    torch.manual_seed(seed)
    if global_features:
        conf[PLANS_KEY] = {
            "global_features": list(global_features),
            "attention_heads": None,
            "attention_tokens": 1,
        }
        network = build_radiomics_unet(
            arch["network_class_name"],
            arch["arch_kwargs"],
            arch["_kw_requires_import"],
            n_in,
            len(dataset["labels"]),
            num_global_features=len(global_features),
            deep_supervision=False,
        )
        assert network.bottleneck_attention is not None
        torch.nn.init.normal_(network.bottleneck_attention.film.weight, std=0.5)
        trainer = "nnUNetTrainerRadiomics"
    else:
        from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

        network = get_network_from_plans(
            arch["network_class_name"],
            arch["arch_kwargs"],
            arch["_kw_requires_import"],
            n_in,
            len(dataset["labels"]),
            allow_init=True,
            deep_supervision=False,
        )
        trainer = "nnUNetTrainer"
    for fold in folder.glob("fold_*"):
        path = fold / "checkpoint_final.pth"
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        checkpoint.update(
            network_weights=network.state_dict(),
            trainer_name=trainer,
            init_args={**checkpoint["init_args"], "plans": plans, "dataset_json": dataset},
        )
        torch.save(checkpoint, path)
    (folder / "dataset.json").write_text(json.dumps(dataset, indent=2))
    (folder / "plans.json").write_text(json.dumps(plans, indent=2))


def write_variant_resources(
    folder: Path, variant: str, *, with_json: bool = True, plans: dict | None = None
) -> Path:
    """A verified resources/ folder whose Stage 2 is ``variant``'s network and whose radiomics.json (unless
    ``with_json`` is false) is :func:`full_spec` for that variant (base: empty lists, inputs both false).
    ``plans``: arguments of ``write_random_resources`` that replace :data:`SMALL`'s (e.g. Stage 2's spacing)."""
    resources = write_random_resources(folder, stage1_pancreas_bias=-1.0, **{**SMALL, **(plans or {})})
    inputs = ModelInputs.of_variant(variant)
    spec = full_spec().for_variant(variant)
    _rewrite(
        resources / "stage2",
        maps=spec.map_features if inputs.maps else (),
        global_features=spec.global_features if inputs.global_vector else (),
        seed=7,
    )
    if with_json:
        if variant == "base":
            spec = RadiomicsSpec({}, (), (), (), inputs=inputs)
        spec.save(resources / "radiomics.json")
    write_manifest(resources, demo=True, trained_on="nothing (random weights)", training_config="none")
    return resources


@pytest.fixture(scope="session")
def random_resources(tmp_path_factory) -> Path:
    """A verified resources/ folder whose random Stage 1 finds a pancreas on the real CT."""
    return write_random_resources(tmp_path_factory.mktemp("resources") / "resources", **SMALL)


@pytest.fixture(scope="session")
def no_pancreas_resources(tmp_path_factory) -> Path:
    """A resources/ folder whose Stage 1 never predicts pancreas (logit bias -30)."""
    return write_random_resources(
        tmp_path_factory.mktemp("resources_nopanc") / "resources", stage1_pancreas_bias=-30.0, **SMALL
    )


@pytest.fixture(scope="session")
def real_ct() -> sitk.Image:
    """Native abdominal CT, 122×101×30 voxels (x, y, z), 3 mm, LPS direction diag(-1, -1, 1)."""
    return sitk.ReadImage(str(DATA / "ts_native_abdomen_ct.nii.gz"))


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def pdacrad_logs() -> Iterator[list[logging.LogRecord]]:
    """Records logged under the ``pdacrad`` logger (attached directly: the CLI turns off propagation)."""
    handler = _ListHandler()
    logger = logging.getLogger("pdacrad")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@pytest.fixture(scope="session")
def variant_package():
    """Factory ``(folder, variant, with_json=True) -> resources`` of :func:`write_variant_resources`."""
    return write_variant_resources


@pytest.fixture
def variant_spec() -> RadiomicsSpec:
    """The radiomics.json of the variant packages (all four share it, each with its own ``inputs``)."""
    return full_spec()
