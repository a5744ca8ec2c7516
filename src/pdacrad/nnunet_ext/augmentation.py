"""Intensity augmentation on the CT channel only, spatial augmentation on every channel.

nnU-Net 2.8.1's ``get_training_transforms`` appends Gaussian noise, Gaussian blur, multiplicative brightness,
contrast, low-resolution simulation and gamma (twice) as ``RandomTransform(...)`` over all image channels. They
model CT acquisition (noise, reconstruction kernel, window), which a parametric map does not have: applied to a
map channel they change the feature values the network is meant to read. :func:`ct_only_intensity` wraps exactly
those transforms in :class:`OnLeadingChannels`, so they see the CT (channel 0) alone; the spatial transform,
mirroring and everything else keep acting on all channels together, so maps stay aligned with the CT and labels.
"""

from __future__ import annotations

from typing import Any

import torch
from batchgeneratorsv2.transforms.base.basic_transform import BasicTransform
from batchgeneratorsv2.transforms.intensity.brightness import MultiplicativeBrightnessTransform
from batchgeneratorsv2.transforms.intensity.contrast import ContrastTransform
from batchgeneratorsv2.transforms.intensity.gamma import GammaTransform
from batchgeneratorsv2.transforms.intensity.gaussian_noise import GaussianNoiseTransform
from batchgeneratorsv2.transforms.noise.gaussian_blur import GaussianBlurTransform
from batchgeneratorsv2.transforms.spatial.low_resolution import SimulateLowResolutionTransform
from batchgeneratorsv2.transforms.utils.compose import ComposeTransforms
from batchgeneratorsv2.transforms.utils.random import RandomTransform

#: The transform classes nnU-Net 2.8.1 adds as intensity augmentation (after the spatial transform).
INTENSITY_TRANSFORMS: tuple[type[BasicTransform], ...] = (
    GaussianNoiseTransform,
    GaussianBlurTransform,
    MultiplicativeBrightnessTransform,
    ContrastTransform,
    SimulateLowResolutionTransform,
    GammaTransform,
)


class OnLeadingChannels(BasicTransform):
    """Apply ``transform`` to image channels ``0 .. n_channels-1`` of a sample ((C, z, y, x) torch tensor) and
    leave the other channels as they are; the rest of the sample (segmentation, ...) as ``transform`` returns it.
    With ``C <= n_channels`` it is ``transform`` itself. Draws no random numbers of its own, so a one-channel
    sample gets exactly what ``transform`` alone would give it."""

    def __init__(self, transform: BasicTransform, n_channels: int = 1) -> None:
        super().__init__()
        self.transform = transform
        self.n_channels = n_channels

    def apply(self, data_dict: dict[str, Any], **params: Any) -> dict[str, Any]:
        image = data_dict.get("image")
        if image is None or image.shape[0] <= self.n_channels:
            return self.transform(**data_dict)
        rest = image[self.n_channels :]
        out = self.transform(**{**data_dict, "image": image[: self.n_channels]})
        out["image"] = torch.cat((out["image"], rest), dim=0)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(channels 0..{self.n_channels - 1}, {self.transform!r})"


def is_intensity_transform(transform: BasicTransform) -> bool:
    """Whether ``transform`` is one of :data:`INTENSITY_TRANSFORMS`, bare or inside a ``RandomTransform``."""
    inner = transform.transform if isinstance(transform, RandomTransform) else transform
    return isinstance(inner, INTENSITY_TRANSFORMS)


def ct_only_intensity(transforms: BasicTransform, n_channels: int = 1) -> BasicTransform:
    """nnU-Net's composed training transforms with each intensity transform (:func:`is_intensity_transform`)
    wrapped in :class:`OnLeadingChannels` (channel 0, the CT, by default); same order, same objects otherwise.

    Raises:
        TypeError: ``transforms`` is not nnU-Net's ``ComposeTransforms`` (another nnU-Net version).
    """
    if not isinstance(transforms, ComposeTransforms):
        raise TypeError(f"expected nnU-Net's ComposeTransforms, got {type(transforms).__name__}")
    return ComposeTransforms(
        [OnLeadingChannels(t, n_channels) if is_intensity_transform(t) else t for t in transforms.transforms]
    )
