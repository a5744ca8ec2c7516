"""RadiomicsUNet: per-sample conditioning, identity at initialisation, predictor-style conditioning."""

from __future__ import annotations

import pytest
import torch
from dynamic_network_architectures.architectures.unet import PlainConvUNet
from torch import nn

from pdacrad.nnunet_ext.networks.radiomics_net import RadiomicsUNet

F = 6
PATCH = (16, 32, 32)  # z, y, x


def tiny_unet(deep_supervision: bool = False, in_channels: int = 3) -> PlainConvUNet:
    """3-stage PlainConvUNet (8-16-32 features) as nnU-Net builds it, He-initialised."""
    torch.manual_seed(0)
    unet = PlainConvUNet(
        input_channels=in_channels,
        n_stages=3,
        features_per_stage=[8, 16, 32],
        conv_op=nn.Conv3d,
        kernel_sizes=[[1, 3, 3], [3, 3, 3], [3, 3, 3]],
        strides=[[1, 1, 1], [1, 2, 2], [2, 2, 2]],
        n_conv_per_stage=[2, 2, 2],
        num_classes=3,
        n_conv_per_stage_decoder=[2, 2],
        conv_bias=True,
        norm_op=nn.InstanceNorm3d,
        norm_op_kwargs={"eps": 1e-5, "affine": True},
        nonlin=nn.LeakyReLU,
        nonlin_kwargs={"inplace": True},
        deep_supervision=deep_supervision,
    )
    unet.apply(unet.initialize)
    return unet


def trained_like(net: RadiomicsUNet) -> RadiomicsUNet:
    """Give the zero-initialised FiLM projection non-zero weights, as after training, so the vector matters."""
    torch.manual_seed(1)
    with torch.no_grad():
        assert net.bottleneck_attention is not None
        net.bottleneck_attention.film.weight.normal_(0, 0.5)
        net.bottleneck_attention.film.bias.normal_(0, 0.1)
    return net.eval()


@pytest.fixture(scope="module")
def net() -> RadiomicsUNet:
    return trained_like(RadiomicsUNet(tiny_unet(), F))


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(2)
    return torch.randn(3, 3, *PATCH, generator=gen), torch.randn(3, F, generator=gen)


@torch.no_grad()
def test_each_sample_gets_its_own_vector(net, batch):
    x, g = batch
    out = net(x, g)
    perm = torch.tensor([2, 0, 1])
    torch.testing.assert_close(net(x[perm], g[perm]), out[perm], rtol=1e-4, atol=1e-5)

    g2 = g.clone()
    g2[1] += 3.0
    changed = net(x, g2)
    torch.testing.assert_close(changed[[0, 2]], out[[0, 2]], rtol=1e-4, atol=1e-5)
    assert (changed[1] - out[1]).abs().max() > 1e-3

    # same image, different vectors → different outputs: the vector is used per sample, not per batch
    same = net(x[:1].expand(2, -1, -1, -1, -1), g[:2])
    assert (same[0] - same[1]).abs().max() > 1e-3


@torch.no_grad()
def test_missing_vector_is_an_error_not_zeros(net, batch):
    x, g = batch
    with pytest.raises(RuntimeError, match="without a global vector"):
        net(x)
    with pytest.raises(ValueError, match=r"shape \(3, 6\)"):
        net(x, g[:, :4])
    with pytest.raises(ValueError, match="one vector of 6 features"), net.conditioned_on(g[:2]):
        pass


@torch.no_grad()
def test_conditioned_on_equals_explicit_vector_for_patch_batches_and_mirrors(net, batch):
    x, g = batch
    explicit = net(x, g[1:2].expand(3, -1))
    with net.conditioned_on(g[1]):
        torch.testing.assert_close(net(x), explicit)
        mirrored = net(torch.flip(x, (2, 4)))
    torch.testing.assert_close(mirrored, net(torch.flip(x, (2, 4)), g[1:2].expand(3, -1)))
    with pytest.raises(RuntimeError):
        net(x)  # the vector is gone after the block


@torch.no_grad()
def test_conditioned_on_nests_and_accepts_1xF(net, batch):
    x, g = batch
    with net.conditioned_on(g[0:1]):
        with net.conditioned_on(g[2]):
            torch.testing.assert_close(net(x[:1]), net(x[:1], g[2:3]))
        torch.testing.assert_close(net(x[:1]), net(x[:1], g[0:1]))


@torch.no_grad()
def test_identity_at_initialisation():
    unet = tiny_unet(deep_supervision=True).eval()
    net = RadiomicsUNet(tiny_unet(deep_supervision=True), F).eval()
    net.load_state_dict(unet.state_dict(), strict=False)
    x = torch.randn(2, 3, *PATCH)
    for ours, plain in zip(net(x, torch.randn(2, F)), unet(x), strict=True):
        torch.testing.assert_close(ours, plain, rtol=0, atol=0)


def test_state_dict_extends_the_plain_unet():
    plain_keys = set(tiny_unet().state_dict())
    ours = set(RadiomicsUNet(tiny_unet(), F).state_dict())
    assert plain_keys < ours
    assert all(k.startswith("bottleneck_attention.") for k in ours - plain_keys)


def test_deep_supervision_passthrough_and_gradients_reach_the_block():
    net = RadiomicsUNet(tiny_unet(deep_supervision=True), F)
    x, g = torch.randn(2, 3, *PATCH), torch.randn(2, F)
    outputs = net(x, g)
    assert [tuple(o.shape[2:]) for o in outputs] == [PATCH, (16, 16, 16)]  # one output per decoder stage
    net.decoder.deep_supervision = False
    single = net(x, g)
    assert isinstance(single, torch.Tensor) and single.shape == (2, 3, *PATCH)
    single.square().mean().backward()
    assert net.bottleneck_attention is not None
    assert net.bottleneck_attention.film.weight.grad.abs().sum() > 0  # zero-init still learns


@torch.no_grad()
def test_plain_variant_takes_no_vector():
    unet = tiny_unet().eval()
    net = RadiomicsUNet(unet, 0).eval()
    x = torch.randn(1, 3, *PATCH)
    torch.testing.assert_close(net(x), unet(x))
    with pytest.raises(ValueError, match="num_global_features=0"):
        net(x, torch.zeros(1, 1))
