"""The vector binding under DistributedDataParallel, two CPU processes on the gloo backend.

nnU-Net 2.8.1's own DDP path cannot be driven on a CPU without patching it: ``run_training`` asserts a CUDA device
for ``num_gpus > 1`` and ``setup_ddp`` initialises ``nccl``; ``run_ddp`` calls ``torch.cuda.set_device``; the
trainer's ``__init__`` replaces its device by ``cuda:<rank>`` whenever a process group exists, and ``initialize``
wraps the network as ``DDP(network, device_ids=[rank])``, which torch refuses for a CPU module. So this test runs
what our code adds to that path — each rank binds its own batch's vectors with ``conditioned_per_sample`` around
a plain ``ddp(x)`` call, as the trainer's ``train_step`` does around nnU-Net's — under a real gloo process group:
the reducer sees every parameter's gradient (no unused-parameter error) and the averaged gradients equal those of
the two half-batches computed without DDP with the vectors passed explicitly."""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
from pathlib import Path

import pytest
import torch

from pdacrad.nnunet_ext.networks.radiomics_net import RadiomicsUNet

from .test_radiomics_net import PATCH, F, tiny_unet, trained_like

WORLD = 2


def _full_batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(5)
    return torch.randn(2 * WORLD, 3, *PATCH, generator=gen), torch.randn(2 * WORLD, F, generator=gen)


def _network() -> RadiomicsUNet:
    """With deep supervision, as nnU-Net trains: every decoder head is used, so the reducer can finish (with one
    output only, the unused heads' buckets would never be reduced, and DDP would silently not average)."""
    return trained_like(RadiomicsUNet(tiny_unet(deep_supervision=True), F)).train()


def _loss(outputs: list[torch.Tensor]) -> torch.Tensor:
    return sum((o.square().mean() for o in outputs), torch.zeros(()))


def ddp_rank(rank: int, port: int, out: str) -> None:
    """One rank: its half of the batch, its vectors bound around the DDP forward, one backward."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        net = _network()
        ddp = DDP(net)  # a CPU module: no device_ids
        x, g = _full_batch()
        rows = slice(2 * rank, 2 * rank + 2)
        with net.conditioned_per_sample(g[rows]):
            _loss(ddp(x[rows])).backward()
        assert net.condition is None  # released
        grads = {n: p.grad for n, p in net.named_parameters() if p.grad is not None}
        torch.save(grads, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_ddp_on_gloo_averages_the_gradients_of_each_ranks_own_vectors(tmp_path: Path) -> None:
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    port = _free_port()
    ranks = [
        mp.get_context("spawn").Process(target=ddp_rank, args=(r, port, str(tmp_path))) for r in range(WORLD)
    ]
    for p in ranks:
        p.start()
    for p in ranks:
        p.join(300)
    assert [p.exitcode for p in ranks] == [0] * WORLD
    on_ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    assert on_ranks[0].keys() == on_ranks[1].keys()
    assert any(n.startswith("bottleneck_attention") for n in on_ranks[0])
    # the reference: each half-batch without DDP, vectors passed explicitly; DDP averages the ranks' gradients
    x, g = _full_batch()
    expected: dict[str, torch.Tensor] = {}
    for r in range(WORLD):
        net = _network()
        rows = slice(2 * r, 2 * r + 2)
        _loss(net(x[rows], g[rows])).backward()
        for n, p in net.named_parameters():
            if p.grad is not None:
                expected[n] = expected.get(n, 0) + p.grad / WORLD
    assert expected.keys() == on_ranks[0].keys() == {n for n, _ in _network().named_parameters()}
    for name, grad in expected.items():
        for r in range(WORLD):
            torch.testing.assert_close(
                on_ranks[r][name], grad, rtol=1e-5, atol=1e-7, msg=lambda m, name=name: f"{name}: {m}"
            )
