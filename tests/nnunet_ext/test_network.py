"""pdacrad.nnunet_ext.build_network: the network of each trainer name without nnU-Net's training code, sized per
fold from fold_<k>/pdacrad_radiomics.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pdacrad.errors import ResourceError
from pdacrad.nnunet_ext import build_network
from pdacrad.nnunet_ext.networks.builder import (
    PLANS_KEY,
    RadiomicsNetworkSettings,
    radiomics_settings,
    write_fold_settings,
)
from pdacrad.nnunet_ext.networks.radiomics_net import RadiomicsUNet

from .conftest import CONFIGURATION, TinyDataset

SRC = Path(__file__).resolve().parents[2] / "src"
PLANS_BLOCK = {
    PLANS_KEY: {"global_features": ["a", "b", "c", "d"], "attention_heads": 2, "attention_tokens": 1}
}


def _managers(dataset: TinyDataset, block: dict | None = None) -> tuple:
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    plans = json.loads((dataset.preprocessed / "nnUNetPlans.json").read_text())
    plans["configurations"][CONFIGURATION].update(block or {})
    manager = PlansManager(plans)
    return manager, manager.get_configuration(CONFIGURATION)


def test_fold_file_takes_precedence_over_the_plans_block(tmp_path: Path) -> None:
    fold = tmp_path / "fold_1"
    assert radiomics_settings(PLANS_BLOCK, fold).global_features == ("a", "b", "c", "d")
    write_fold_settings(fold, RadiomicsNetworkSettings(("x", "y"), None, 2), "nnUNetTrainerRadiomics")
    assert radiomics_settings(PLANS_BLOCK, fold) == RadiomicsNetworkSettings(("x", "y"), None, 2)
    assert radiomics_settings(PLANS_BLOCK).num_global_features == 4
    with pytest.raises(ResourceError, match="not trained with nnUNetTrainerRadiomics"):
        radiomics_settings({"patch_size": [16, 32, 32]}, tmp_path / "fold_0")


def test_plain_and_radiomics_networks_per_fold(tiny_dataset: TinyDataset, tmp_path: Path) -> None:
    plans, conf = _managers(tiny_dataset, PLANS_BLOCK)
    plain = build_network("nnUNetTrainerPicaiSmoke", plans, conf, 3, 3)
    assert not isinstance(plain, RadiomicsUNet) and type(plain).__name__ == "PlainConvUNet"
    assert plain.decoder.deep_supervision is False
    from_plans = build_network("nnUNetTrainerRadiomics", plans, conf, 3, 3)
    assert isinstance(from_plans, RadiomicsUNet) and from_plans.num_global_features == 4
    fold = tmp_path / "fold_1"
    write_fold_settings(fold, RadiomicsNetworkSettings(("x", "y"), None, 3), "nnUNetTrainerRadiomicsDemo")
    per_fold = build_network("nnUNetTrainerRadiomicsDemo", plans, conf, 3, 3, fold_folder=fold)
    assert isinstance(per_fold, RadiomicsUNet) and per_fold.num_global_features == 2
    assert per_fold.bottleneck_attention is not None and per_fold.bottleneck_attention.num_tokens == 3
    # the U-Net part is the same as the plain network's
    unet_keys = {k for k in per_fold.state_dict() if not k.startswith("bottleneck_attention.")}
    assert unet_keys == set(plain.state_dict())


def test_unknown_names_go_to_nnunets_lookup(tiny_dataset: TinyDataset) -> None:
    plans, conf = _managers(tiny_dataset)
    assert type(build_network("nnUNetTrainer", plans, conf, 3, 3)).__name__ == "PlainConvUNet"
    with pytest.raises(ResourceError, match="Unknown nnU-Net trainer"):
        build_network("NoSuchTrainer", plans, conf, 3, 3)
    with pytest.raises(ResourceError, match="not trained with nnUNetTrainerRadiomics"):
        build_network("nnUNetTrainerRadiomics", plans, conf, 3, 3)


def test_build_network_imports_no_training_code(tiny_dataset: TinyDataset, tmp_path: Path) -> None:
    """In a fresh interpreter, building both kinds of network leaves nnU-Net's trainer module and our trainer
    modules unimported."""
    write_fold_settings(tmp_path, RadiomicsNetworkSettings(("x", "y", "z")), "nnUNetTrainerRadiomics")
    script = f"""
import json, sys
import pdacrad.nnunet_ext.networks.builder
from pdacrad.nnunet_ext import build_network
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
plans = PlansManager({str(tiny_dataset.preprocessed / "nnUNetPlans.json")!r})
conf = plans.get_configuration({CONFIGURATION!r})
nets = [build_network("nnUNetTrainerPicaiDemo", plans, conf, 3, 3),
        build_network("nnUNetTrainerRadiomicsSmoke", plans, conf, 3, 3, fold_folder={str(tmp_path)!r})]
watched = ["nnunetv2.training.nnUNetTrainer.nnUNetTrainer", "pdacrad.nnunet_ext.variants",
           "pdacrad.nnunet_ext.variants.schedules", "pdacrad.nnunet_ext.variants.picai",
           "pdacrad.nnunet_ext.variants.radiomics", "pdacrad.nnunet_ext.conditioning.data_loading",
           "pdacrad.nnunet_ext.augmentation", "pdacrad.nnunet_ext.training_options"]
print(json.dumps({{"types": [type(n).__name__ for n in nets], "features": nets[1].num_global_features,
                  "imported": [m for m in watched if m in sys.modules]}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"types": ["PlainConvUNet", "RadiomicsUNet"], "features": 3, "imported": []}
