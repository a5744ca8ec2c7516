"""The radiomics-enhanced Stage-2 network: nnU-Net's encoder–decoder conditioned on a per-case global vector.

Parametric maps reach the network as ordinary extra input channels (the plans' input channels), so the encoder and
decoder are nnU-Net's own, unchanged. The global radiomics vector ``g`` (``F`` z-scored segment-level features of
the pancreas) enters at the bottleneck through :class:`BottleneckCrossAttention`:

* query tokens ``q = Linear(F → T·C)(g)`` reshaped to ``T`` tokens of ``C`` channels (``C`` = bottleneck channels);
* keys/values = the ``N = z·y·x`` bottleneck feature vectors (layer-normed), one token per voxel;
* multi-head attention gives ``T`` attended tokens, averaged into one ``C``-vector ``a`` per sample;
* FiLM: ``features · (1 + γ) + β`` with ``(γ, β) = Linear(C → 2C)(a)``, per sample and channel.

The FiLM projection is zero-initialised, so a freshly built network computes exactly the wrapped U-Net's
function: training starts from the plain nnU-Net and learns how much to use the vector.

Three ways to give the vector:

* explicitly, one row per sample: ``net(x, g)`` with ``g`` of shape ``(B, F)``;
* nnU-Net's sliding-window predictor calls ``network(x)`` with one tensor (patch batches, mirrored copies), so
  ``with net.conditioned_on(g_case):`` sets one case's vector, broadcast to every patch of every call inside;
* nnU-Net's ``train_step`` / ``validation_step`` call ``network(x)`` too: the trainer binds the batch's ``(B, F)``
  matrix around them with ``with net.conditioned_per_sample(g):`` (row i for sample i).

The bound vector is a plain attribute (not a parameter or buffer: never saved, never broadcast by DDP, which is
right, since each rank conditions on its own batch). DDP's reducer sees an ordinary forward whose parameters all
get gradients; torch.compile reads the attribute as a graph input guarded on shape and dtype, not on its values.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn


def default_num_heads(channels: int) -> int:
    """The largest of 8, 4, 2, 1 heads that divides ``channels`` (``nn.MultiheadAttention`` needs a divisor)."""
    return next(h for h in (8, 4, 2, 1) if channels % h == 0)


class BottleneckCrossAttention(nn.Module):
    """Cross-attention from a global vector to bottleneck tokens, applied as a FiLM modulation.

    Args:
        num_global_features: ``F``, length of the global vector.
        channels: ``C``, channels of the bottleneck feature map.
        num_heads: attention heads (must divide ``C``); default :func:`default_num_heads`.
        num_tokens: ``T``, query tokens projected from the vector.
    """

    def __init__(
        self, num_global_features: int, channels: int, num_heads: int | None = None, num_tokens: int = 1
    ):
        super().__init__()
        num_heads = num_heads or default_num_heads(channels)
        if channels % num_heads:
            raise ValueError(f"num_heads={num_heads} must divide the bottleneck's {channels} channels")
        self.num_tokens = num_tokens
        self.channels = channels
        self.query = nn.Linear(num_global_features, num_tokens * channels)
        self.key_norm = nn.LayerNorm(channels)
        self.attention = nn.MultiheadAttention(channels, num_heads, batch_first=True)
        self.film = nn.Linear(channels, 2 * channels)
        # zero FiLM → γ = β = 0 → identity: the network starts as the plain U-Net
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, features: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """Modulate ``features`` (B, C, *spatial) by ``g`` (B, F); returns a tensor of ``features``' shape."""
        b, c = features.shape[:2]
        tokens = self.key_norm(features.flatten(2).transpose(1, 2))  # (B, N, C)
        query = self.query(g.to(tokens.dtype)).view(b, self.num_tokens, c)  # (B, T, C)
        attended, _ = self.attention(query, tokens, tokens, need_weights=False)
        gamma, beta = self.film(attended.mean(dim=1)).chunk(2, dim=1)  # (B, C) each
        view = (b, c) + (1,) * (features.ndim - 2)
        return features * (1 + gamma.view(view).to(features.dtype)) + beta.view(view).to(features.dtype)


class RadiomicsUNet(nn.Module):
    """nnU-Net's ``PlainConvUNet`` / ``ResidualEncoderUNet`` with a global-vector cross-attention block on the
    bottleneck.

    ``encoder`` and ``decoder`` are the wrapped network's own modules, registered under the same names, so the
    state-dict keys of the U-Net part equal those of the plain network (a plain checkpoint loads with
    ``strict=False``; the extra keys are ``bottleneck_attention.*``). nnU-Net toggles deep supervision through
    ``network.decoder.deep_supervision``, which therefore works unchanged.

    Args:
        unet: a built nnU-Net architecture with ``encoder`` (returning skips, bottleneck last; ``output_channels``)
            and ``decoder`` (a ``UNetDecoder``).
        num_global_features: ``F``; 0 builds a plain network that needs no vector (and takes none).
        num_heads: attention heads; default :func:`default_num_heads` of the bottleneck channels.
        num_tokens: query tokens projected from the vector.
    """

    def __init__(
        self, unet: Any, num_global_features: int, num_heads: int | None = None, num_tokens: int = 1
    ):
        super().__init__()
        if num_global_features < 0:
            raise ValueError(f"num_global_features must be ≥ 0, got {num_global_features}")
        # Any: dynamic_network_architectures' encoders/decoders carry untyped attributes (output_channels, ...)
        self.encoder: Any = unet.encoder
        self.decoder: Any = unet.decoder
        self.num_global_features = num_global_features
        bottleneck_channels = int(self.encoder.output_channels[-1])
        self.bottleneck_attention: BottleneckCrossAttention | None = (
            BottleneckCrossAttention(num_global_features, bottleneck_channels, num_heads, num_tokens)
            if num_global_features
            else None
        )
        # one case's vector while inside conditioned_on(); deliberately not a buffer (never saved)
        self._condition: torch.Tensor | None = None

    @contextlib.contextmanager
    def conditioned_on(self, g: torch.Tensor | Sequence[float]) -> Iterator[RadiomicsUNet]:
        """Within the block, calls without an explicit vector use ``g`` (shape ``(F,)`` or ``(1, F)``) for every
        sample of every batch: all patches and mirrored copies of one case. Nests; restores the previous vector.
        """
        vector = torch.as_tensor(g, dtype=torch.float32)
        if vector.ndim == 2 and vector.shape[0] == 1:
            vector = vector[0]
        if self.num_global_features == 0 or vector.ndim != 1 or vector.numel() != self.num_global_features:
            raise ValueError(
                f"conditioned_on needs one vector of {self.num_global_features} features, shape (F,) or (1, F); "
                f"got shape {tuple(vector.shape)}"
            )
        vector = vector.reshape(1, -1)
        previous, self._condition = self._condition, vector
        try:
            yield self
        finally:
            self._condition = previous

    @contextlib.contextmanager
    def conditioned_per_sample(self, g: torch.Tensor) -> Iterator[RadiomicsUNet]:
        """Within the block, calls without an explicit vector condition sample ``i`` of their batch on row ``i``
        of ``g`` (shape ``(B, F)``, a batch of B samples): how the trainers bind a training batch's vectors around
        nnU-Net's own ``train_step``, which calls ``network(x)``. Nests; restores the previous vector."""
        matrix = torch.as_tensor(g, dtype=torch.float32)
        if self.num_global_features == 0 or matrix.ndim != 2 or matrix.shape[1] != self.num_global_features:
            raise ValueError(
                f"conditioned_per_sample needs a (B, {self.num_global_features}) matrix; got shape "
                f"{tuple(matrix.shape)}"
            )
        previous, self._condition = self._condition, matrix
        try:
            yield self
        finally:
            self._condition = previous

    @property
    def condition(self) -> torch.Tensor | None:
        """The ``(1, F)`` vector (or ``(B, F)`` matrix) set by the innermost :meth:`conditioned_on`
        (:meth:`conditioned_per_sample`) block, or None outside one."""
        return self._condition

    def _global_matrix(self, x: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
        """The (B, F) vector matrix for batch ``x``: explicit ``g`` if given, else the conditioned vector."""
        batch = x.shape[0]
        if g is None:
            if self._condition is None:
                raise RuntimeError(
                    f"RadiomicsUNet was built with {self.num_global_features} global features but called without a "
                    "global vector: pass forward(x, g) with g of shape (B, F), or predict inside "
                    "`with network.conditioned_on(g_case):`."
                )
            g = self._condition
        g = torch.as_tensor(g).to(device=x.device, dtype=torch.float32)
        if g.ndim == 1:
            g = g.unsqueeze(0)
        if g.ndim != 2 or g.shape[1] != self.num_global_features or g.shape[0] not in (1, batch):
            raise ValueError(
                f"global vector must have shape ({batch}, {self.num_global_features}) or (1, "
                f"{self.num_global_features}) for a batch of {batch}; got {tuple(g.shape)}"
            )
        return g.expand(batch, -1)

    def forward(self, x: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor | list[torch.Tensor]:
        """Segmentation logits of ``x`` (B, channels, z, y, x) conditioned on ``g`` (B, F) (or the vector set by
        :meth:`conditioned_on`). Returns nnU-Net's decoder output: one tensor, or the deep-supervision list
        (full resolution first) when ``decoder.deep_supervision`` is on."""
        skips = self.encoder(x)
        if self.bottleneck_attention is not None:
            skips = [*skips[:-1], self.bottleneck_attention(skips[-1], self._global_matrix(x, g))]
        elif g is not None:
            raise ValueError(
                "this RadiomicsUNet was built with num_global_features=0 and takes no global vector"
            )
        return self.decoder(skips)

    def compute_conv_feature_map_size(self, input_size: Sequence[int]) -> Any:
        """nnU-Net's VRAM estimate of the U-Net part (the attention block's tokens are the bottleneck's own)."""
        return self.encoder.compute_conv_feature_map_size(
            input_size
        ) + self.decoder.compute_conv_feature_map_size(input_size)


def build_radiomics_unet(
    arch_class_name: str,
    arch_kwargs: dict,
    arch_kwargs_req_import: Sequence[str],
    input_channels: int,
    output_channels: int,
    num_global_features: int,
    deep_supervision: bool = True,
    num_heads: int | None = None,
    num_tokens: int = 1,
) -> RadiomicsUNet:
    """Build the plans' architecture with nnU-Net's ``get_network_from_plans`` (He-initialised like nnU-Net) and
    wrap it in :class:`RadiomicsUNet`. ``input_channels`` counts CT + map channels."""
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

    unet = get_network_from_plans(
        arch_class_name,
        arch_kwargs,
        arch_kwargs_req_import,
        input_channels,
        output_channels,
        allow_init=True,
        deep_supervision=deep_supervision,
    )
    return RadiomicsUNet(unet, num_global_features, num_heads=num_heads, num_tokens=num_tokens)
