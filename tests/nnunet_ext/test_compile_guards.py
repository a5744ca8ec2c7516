"""torch.compile (as nnU-Net compiles the network on CUDA) does not recompile when the bound vector changes: one
graph for a training run whose batches bind other vectors each step, and one for a final validation whose cases
bind theirs through the load-order hook. Dynamo's guards decide recompiles, whatever the backend, so the test
counts compiles with an eager backend (seconds on a CPU; inductor itself takes minutes here)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from pdacrad.nnunet_ext.conditioning.case_vectors import LoadOrderConditioner
from pdacrad.nnunet_ext.networks.radiomics_net import RadiomicsUNet

from .test_radiomics_net import PATCH, F, tiny_unet, trained_like


def _compiled(net: RadiomicsUNet) -> tuple[Callable, list[int]]:
    compiles: list[int] = []

    def counting(graph: torch.fx.GraphModule, inputs: list) -> Callable:
        compiles.append(len(inputs))
        return graph.forward

    torch._dynamo.reset()
    return torch.compile(net, backend=counting), compiles


@pytest.mark.slow
def test_training_batches_with_new_vectors_reuse_one_graph() -> None:
    net = trained_like(RadiomicsUNet(tiny_unet(deep_supervision=True), F)).train()
    compiled, compiles = _compiled(net)
    x = torch.randn(2, 3, *PATCH)
    for step in range(4):
        with net.conditioned_per_sample(torch.randn(2, F) * (step + 1)):
            sum(o.square().mean() for o in compiled(x)).backward()
    assert len(compiles) == 1


@pytest.mark.slow
def test_final_validation_cases_reuse_one_graph() -> None:
    net = trained_like(RadiomicsUNet(tiny_unet(), F))
    compiled, compiles = _compiled(net)
    conditioner = LoadOrderConditioner()
    x = torch.randn(1, 3, *PATCH)
    outputs = []
    with torch.no_grad(), conditioner.conditioning(net):
        for case in range(4):
            conditioner.case_loaded(f"case_{case:03d}", np.random.default_rng(case).normal(size=F))
            outputs.append(compiled(x))
            compiled(x)  # a second patch of the same case
    assert len(compiles) == 1
    assert not torch.equal(outputs[0], outputs[1])  # the compiled graph did read each case's vector
