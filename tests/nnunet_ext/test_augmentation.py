"""CT-only intensity augmentation: PdacradTrainer's training transforms are nnU-Net 2.8.1's with the intensity
transforms on channel 0 alone; map channels keep their values and move with the CT under spatial transforms."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

pytest.importorskip("nnunetv2")
from batchgeneratorsv2.transforms.spatial.mirroring import MirrorTransform
from batchgeneratorsv2.transforms.spatial.spatial import SpatialTransform
from batchgeneratorsv2.transforms.utils.random import RandomTransform
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from pdacrad.nnunet_ext.augmentation import INTENSITY_TRANSFORMS, OnLeadingChannels, is_intensity_transform
from pdacrad.nnunet_ext.variants.schedules import PdacradTrainer

PATCH = (12, 16, 16)
ARGS = (PATCH, (-0.5, 0.5), None, (0, 1, 2), False)
KWARGS = {
    "use_mask_for_norm": [False, False],
    "foreground_labels": [1],
    "regions": None,
    "ignore_label": None,
}


def _sample(channels: list[np.ndarray]) -> dict[str, torch.Tensor]:
    image = torch.from_numpy(np.stack(channels).astype(np.float32))
    return {"image": image, "segmentation": torch.zeros((1, *image.shape[1:]), dtype=torch.int16)}


def _field(seed: int, shape=PATCH) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1.0, shape)


def test_intensity_transforms_are_wrapped_and_everything_else_is_nnunets() -> None:
    ours = PdacradTrainer.get_training_transforms(*ARGS, **KWARGS).transforms
    theirs = nnUNetTrainer.get_training_transforms(*ARGS, **KWARGS).transforms
    assert [type(t) for t in ours] == [
        OnLeadingChannels if is_intensity_transform(t) else type(t) for t in theirs
    ]
    wrapped = [t.transform.transform for t in ours if isinstance(t, OnLeadingChannels)]
    assert sorted(type(t).__name__ for t in wrapped) == sorted(
        [
            "GaussianNoiseTransform",
            "GaussianBlurTransform",
            "MultiplicativeBrightnessTransform",
            "ContrastTransform",
            "SimulateLowResolutionTransform",
            "GammaTransform",
            "GammaTransform",
        ]
    )
    assert {type(t) for t in wrapped} == set(INTENSITY_TRANSFORMS)
    assert any(isinstance(t, SpatialTransform) for t in ours) and any(
        isinstance(t, MirrorTransform) for t in ours
    )


def test_each_intensity_transform_changes_the_ct_and_leaves_the_map_channel() -> None:
    for wrapper in PdacradTrainer.get_training_transforms(*ARGS, **KWARGS).transforms:
        if not isinstance(wrapper, OnLeadingChannels):
            continue
        forced = copy.deepcopy(wrapper)
        assert isinstance(forced.transform, RandomTransform)
        forced.transform.apply_probability = 1.0
        if hasattr(forced.transform.transform, "p_per_channel"):
            forced.transform.transform.p_per_channel = 1.0
        ct, feature = _field(1) * 50 + 40, _field(2) * 0.1 + 0.5
        changed = False
        for seed in range(5):  # a random draw can leave the CT as it was (e.g. gamma ≈ 1): try a few
            torch.manual_seed(seed)
            out = forced(**_sample([ct, feature]))["image"].numpy()
            np.testing.assert_array_equal(out[1], feature.astype(np.float32), err_msg=repr(forced))
            changed |= not np.allclose(out[0], ct.astype(np.float32))
        assert changed, f"{forced!r} never changed the CT"


def test_spatial_transforms_move_every_channel_alike() -> None:
    transforms = PdacradTrainer.get_training_transforms(*ARGS, **KWARGS).transforms
    spatial = copy.deepcopy(next(t for t in transforms if isinstance(t, SpatialTransform)))
    spatial.p_rotation, spatial.p_scaling = 1.0, 1.0
    mirror = next(t for t in transforms if isinstance(t, MirrorTransform))
    big = _field(3, (20, 24, 24))
    torch.manual_seed(0)
    out = mirror(**spatial(**_sample([big, big])))["image"].numpy()
    assert out.shape == (2, *PATCH)
    np.testing.assert_array_equal(out[0], out[1])
    assert not np.allclose(out[0], big[4:16, 4:20, 4:20]), "the spatial transform did move the data"


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_ct_channel_gets_what_nnunet_gives_it_with_or_without_maps(seed: int) -> None:
    """Same seed: a CT-only sample gets exactly nnU-Net's augmentation, and the CT of a CT + map sample gets the
    same (the wrappers draw no random numbers of their own, the map adds no draws)."""
    ct, feature = _field(4, (20, 24, 24)) * 50, _field(5, (20, 24, 24))
    kwargs = {**KWARGS, "use_mask_for_norm": [False]}
    torch.manual_seed(seed)
    np.random.seed(seed)
    theirs = nnUNetTrainer.get_training_transforms(*ARGS, **kwargs)(**_sample([ct]))["image"]
    torch.manual_seed(seed)
    np.random.seed(seed)
    alone = PdacradTrainer.get_training_transforms(*ARGS, **kwargs)(**_sample([ct]))["image"]
    torch.manual_seed(seed)
    np.random.seed(seed)
    both = PdacradTrainer.get_training_transforms(*ARGS, **KWARGS)(**_sample([ct, feature]))["image"]
    torch.testing.assert_close(alone, theirs)
    torch.testing.assert_close(both[:1], theirs)
    assert both.shape[0] == 2


def test_every_trainer_of_ours_augments_the_ct_only() -> None:
    from pdacrad.nnunet_ext import find_trainer
    from pdacrad.nnunet_ext.trainer_names import trainer_names

    for name in trainer_names():
        trainer = find_trainer(name)
        assert trainer.get_training_transforms is PdacradTrainer.get_training_transforms, name
