"""nnU-Net 2.8.1's ``train_step`` and ``validation_step`` with the network called as ``network(x, g)``.

``g`` is the batch's ``(B, F)`` global vector matrix, ``batch['global_vector']``, put there by the data loader
(:mod:`pdacrad.nnunet_ext.conditioning.data_loading`) row by row in batch order. Everything else is nnU-Net's: targets to the
device, autocast on CUDA only, Dice + CE loss with deep supervision, gradient scaling, gradient-norm clipping at
12, the pseudo-Dice counts of the validation step. ``g`` is an ordinary second input of the forward call, so DDP
(each rank's batches carry their own vectors; the reducer sees a normal forward) and torch.compile (a graph input,
no guard on module attributes) handle it as they handle the image.
"""

from __future__ import annotations

from typing import Any

import torch
from nnunetv2.training.loss.dice import get_tp_fp_fn_tn
from nnunetv2.utilities.helpers import dummy_context
from torch import autocast

from pdacrad.errors import InvalidInputError
from pdacrad.nnunet_ext.conditioning.data_loading import GLOBAL_VECTOR_KEY


def _on_device(trainer: Any, batch: dict) -> tuple[torch.Tensor, Any, torch.Tensor]:
    """``data``, ``target`` and ``global_vector`` of ``batch`` on the trainer's device."""
    if GLOBAL_VECTOR_KEY not in batch:
        raise InvalidInputError(
            f"the batch has no {GLOBAL_VECTOR_KEY!r}: build the data loaders with the trainer's get_dataloaders"
        )
    device = trainer.device
    data = batch["data"].to(device, non_blocking=True)
    target = batch["target"]
    if isinstance(target, list):
        target = [t.to(device, non_blocking=True) for t in target]
    else:
        target = target.to(device, non_blocking=True)
    g = batch[GLOBAL_VECTOR_KEY].to(device, non_blocking=True)
    if g.shape[0] != data.shape[0]:
        raise InvalidInputError(f"global vectors for {g.shape[0]} samples, data for {data.shape[0]}")
    return data, target, g


def _autocast(trainer: Any) -> Any:
    return autocast(trainer.device.type, enabled=True) if trainer.device.type == "cuda" else dummy_context()


def train_step(trainer: Any, batch: dict) -> dict:
    """nnU-Net's ``nnUNetTrainer.train_step`` with ``network(data, g)``."""
    data, target, g = _on_device(trainer, batch)
    trainer.optimizer.zero_grad(set_to_none=True)
    with _autocast(trainer):
        output = trainer.network(data, g)
        loss = trainer.loss(output, target)
    if trainer.grad_scaler is not None:
        trainer.grad_scaler.scale(loss).backward()
        trainer.grad_scaler.unscale_(trainer.optimizer)
        torch.nn.utils.clip_grad_norm_(trainer.network.parameters(), 12)
        trainer.grad_scaler.step(trainer.optimizer)
        trainer.grad_scaler.update()
    else:
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainer.network.parameters(), 12)
        trainer.optimizer.step()
    return {"loss": loss.detach().cpu().numpy()}


def validation_step(trainer: Any, batch: dict) -> dict:
    """nnU-Net's ``nnUNetTrainer.validation_step`` (loss and pseudo-Dice counts) with ``network(data, g)``."""
    data, target, g = _on_device(trainer, batch)
    with _autocast(trainer):
        output = trainer.network(data, g)
        del data
        loss = trainer.loss(output, target)
    if trainer.enable_deep_supervision:  # the highest resolution only
        output, target = output[0], target[0]
    axes = [0, *range(2, output.ndim)]
    labels = trainer.label_manager
    if labels.has_regions:
        predicted_onehot = (torch.sigmoid(output) > 0.5).long()
    else:
        output_seg = output.argmax(1)[:, None]
        predicted_onehot = torch.zeros(output.shape, device=output.device, dtype=torch.float16)
        predicted_onehot.scatter_(1, output_seg, 1)
        del output_seg
    mask = None
    if labels.has_ignore_label:
        if not labels.has_regions:
            mask = (target != labels.ignore_label).float()
            target[target == labels.ignore_label] = 0
        else:
            mask = ~target[:, -1:] if target.dtype == torch.bool else 1 - target[:, -1:]
            target = target[:, :-1]
    tp, fp, fn, _ = get_tp_fp_fn_tn(predicted_onehot, target, axes=axes, mask=mask)
    tp_hard, fp_hard, fn_hard = (t.detach().cpu().numpy() for t in (tp, fp, fn))
    if not labels.has_regions:  # no background Dice
        tp_hard, fp_hard, fn_hard = tp_hard[1:], fp_hard[1:], fn_hard[1:]
    return {"loss": loss.detach().cpu().numpy(), "tp_hard": tp_hard, "fp_hard": fp_hard, "fn_hard": fn_hard}
