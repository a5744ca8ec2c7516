"""Training-iteration overhead of the radiomics Stage-2 network over plain nnU-Net, measured side by side.

    .venv/bin/python benchmarks/trainer_overhead.py [--config demo|panorama] [--rounds 10] [--device cpu|cuda]

One iteration = forward + nnU-Net's deep-supervised Dice + CE loss + backward + SGD step (nnU-Net's optimiser
settings), on the same random batch and patch, for (a) nnU-Net's ``PlainConvUNet`` and (b) the same U-Net inside
:class:`pdacrad.nnunet_ext.networks.radiomics_net.RadiomicsUNet` with a ``(B, F)`` global vector. The two networks
alternate iteration by iteration (after warm-up), so drifts of a shared machine hit both alike. Wall and
process-CPU times are recorded; the headline ratio of medians uses CPU time on a CPU device (other processes
on a shared machine inflate wall time, not the work done) and wall time on CUDA. Target (issue 6): ≤ 1.15×.

Configurations (input channels = CT + 4 maps, F = 10 global features, 7 output labels):
  demo      the synthetic-demo Stage 2: 4 stages, 8–64 features, patch 24×64×64, batch 2
  panorama  the PANORAMA baseline Stage 2: 6 stages, 32–320 features, patch 48×128×288, batch 2 (GPU-sized;
            ~1 minute per iteration on a 2-core CPU)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

CONFIGS = {
    "demo": {
        "patch": (24, 64, 64),
        "features": [8, 16, 32, 64],
        "strides": [[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2]],
        "kernels": [[1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]],
    },
    "panorama": {
        "patch": (48, 128, 288),
        "features": [32, 64, 128, 256, 320, 320],
        "strides": [[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [1, 2, 2]],
        "kernels": [[1, 3, 3]] + [[3, 3, 3]] * 5,
    },
}
IN_CHANNELS, NUM_GLOBAL, NUM_CLASSES, BATCH = 5, 10, 7, 2


def build_unet(config: dict) -> nn.Module:
    """nnU-Net's PlainConvUNet as the plans build it (InstanceNorm, LeakyReLU, deep supervision), He-initialised."""
    from dynamic_network_architectures.architectures.unet import PlainConvUNet

    n = len(config["features"])
    unet = PlainConvUNet(
        input_channels=IN_CHANNELS,
        n_stages=n,
        features_per_stage=config["features"],
        conv_op=nn.Conv3d,
        kernel_sizes=config["kernels"],
        strides=config["strides"],
        n_conv_per_stage=[2] * n,
        num_classes=NUM_CLASSES,
        n_conv_per_stage_decoder=[2] * (n - 1),
        conv_bias=True,
        norm_op=nn.InstanceNorm3d,
        norm_op_kwargs={"eps": 1e-5, "affine": True},
        nonlin=nn.LeakyReLU,
        nonlin_kwargs={"inplace": True},
        deep_supervision=True,
    )
    unet.apply(unet.initialize)
    return unet


def deep_supervision_loss(config: dict) -> nn.Module:
    """nnU-Net's Dice + CE with its deep-supervision weights (halving per scale, lowest scale 0, normalised)."""
    import numpy as np
    from nnunetv2.training.loss.compound_losses import DC_and_CE_loss
    from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
    from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss

    weights = np.array([1 / 2**i for i in range(len(config["features"]) - 1)])
    weights[-1] = 0
    loss = DC_and_CE_loss(
        {"batch_dice": True, "smooth": 1e-5, "do_bg": False, "ddp": False},
        {},
        weight_ce=1,
        weight_dice=1,
        dice_class=MemoryEfficientSoftDiceLoss,
    )
    return DeepSupervisionWrapper(loss, weights / weights.sum())


def targets(config: dict, device: torch.device) -> list[torch.Tensor]:
    """Random label maps at every deep-supervision scale (nnU-Net downsamples the target the same way)."""
    patch = torch.tensor(config["patch"])
    shapes, scale = [], torch.ones(3, dtype=torch.long)
    for stride in config["strides"][:-1]:
        scale = scale * torch.tensor(stride)
        shapes.append((patch // scale).tolist())
    gen = torch.Generator().manual_seed(1)
    return [torch.randint(0, NUM_CLASSES, (BATCH, 1, *s), generator=gen).float().to(device) for s in shapes]


def make_step(network: nn.Module, loss: nn.Module, inputs: tuple, target: list) -> Callable[[], None]:
    """One nnU-Net training iteration of ``network`` (SGD 1e-2, momentum 0.99, Nesterov, grad-norm clip 12)."""
    optimizer = torch.optim.SGD(network.parameters(), 1e-2, weight_decay=3e-5, momentum=0.99, nesterov=True)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        value = loss(network(*inputs), target)
        value.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), 12)
        optimizer.step()

    return step


def timed(step: Callable[[], None], device: torch.device) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one ``step``; CPU time sums torch's threads and is what other
    processes on a shared machine disturb least."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def block_cost_ms(
    radiomics: nn.Module, plain: nn.Module, x: torch.Tensor, g: torch.Tensor, device: torch.device
) -> float:
    """CPU milliseconds of the cross-attention block's forward + backward on the real bottleneck features:
    a cross-check of the end-to-end ratio that a busy machine cannot blur much (median of 20)."""
    with torch.no_grad():
        bottleneck = plain.encoder(x)[-1]
    features = bottleneck.detach().requires_grad_(True)
    samples = []
    for _ in range(22):
        _, cpu = timed(lambda: radiomics.bottleneck_attention(features, g).sum().backward(), device)
        samples.append(cpu)
    return statistics.median(samples[2:]) * 1e3


def main() -> None:
    from pdacrad.nnunet_ext.networks.radiomics_net import RadiomicsUNet

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", choices=sorted(CONFIGS), default="demo")
    parser.add_argument(
        "--rounds", type=int, default=10, help="measured iterations per network (after 2 warm-up)"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    config = CONFIGS[args.config]

    torch.manual_seed(0)
    plain = build_unet(config).to(device).train()
    torch.manual_seed(0)
    radiomics = RadiomicsUNet(build_unet(config), NUM_GLOBAL).to(device).train()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, IN_CHANNELS, *config["patch"], generator=gen).to(device)
    g = torch.randn(BATCH, NUM_GLOBAL, generator=gen).to(device)
    loss, target = deep_supervision_loss(config), targets(config, device)
    steps = {
        "plain PlainConvUNet": make_step(plain, loss, (x,), target),
        "RadiomicsUNet (+cross-attention)": make_step(radiomics, loss, (x, g), target),
    }
    for step in steps.values():  # warm-up: allocator, cuDNN autotuning, first-touch
        for _ in range(2):
            timed(step, device)
    walls: dict[str, list[float]] = {name: [] for name in steps}
    cpus: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            wall, cpu = timed(step, device)
            walls[name].append(wall)
            cpus[name].append(cpu)

    params = {
        "plain PlainConvUNet": sum(p.numel() for p in plain.parameters()),
        "RadiomicsUNet (+cross-attention)": sum(p.numel() for p in radiomics.parameters()),
    }
    threads = torch.get_num_threads() if device.type == "cpu" else "-"
    print(
        f"config {args.config}: patch {config['patch']}, batch {BATCH}, features {config['features']}, "
        f"{IN_CHANNELS} input channels, F={NUM_GLOBAL}; device {device} (torch threads {threads}); "
        f"{args.rounds} rounds; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    for name in steps:
        print(
            f"  {name:34s} wall median {statistics.median(walls[name]) * 1e3:8.1f} ms/iter "
            f"(min {min(walls[name]) * 1e3:.1f}), CPU median {statistics.median(cpus[name]) * 1e3:8.1f} ms/iter; "
            f"{params[name] / 1e6:.3f} M parameters"
        )
    ours, base = "RadiomicsUNet (+cross-attention)", "plain PlainConvUNet"
    wall_ratio = statistics.median(walls[ours]) / statistics.median(walls[base])
    cpu_ratio = statistics.median(cpus[ours]) / statistics.median(cpus[base])
    paired = statistics.median(a / b for a, b in zip(walls[ours], walls[base], strict=True))
    # on a CPU, wall time on a shared machine is noise-dominated; CPU time measures the work itself
    block_ms = block_cost_ms(radiomics, plain, x, g, device)
    print(
        f"  attention block alone (fwd+bwd on the bottleneck, CPU time): {block_ms:.2f} ms = "
        f"{block_ms / (statistics.median(cpus[base]) * 1e3) * 100:.1f}% of a plain iteration"
    )
    headline, basis = (cpu_ratio, "CPU time") if device.type == "cpu" else (wall_ratio, "wall time")
    print(
        f"ratio (wall, medians) {wall_ratio:.3f}×; (wall, per-round paired median) {paired:.3f}×; (CPU time, medians) {cpu_ratio:.3f}×"
    )
    print(
        f"ratio RadiomicsUNet / plain = {headline:.3f}× by {basis} "
        f"(target ≤ 1.15×: {'met' if headline <= 1.15 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
