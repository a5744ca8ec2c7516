"""The Stage-2 trainer runs nnU-Net's own ``train_step`` / ``validation_step`` / ``get_dataloaders`` (extended, not
copied): on a fixed batch the steps give exactly the loss, gradients and update of the explicit ``network(x, g)``
step they replaced, and nothing in nnU-Net's module is rebound."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from pdacrad.errors import InvalidInputError
from pdacrad.nnunet_ext.conditioning.data_loading import GLOBAL_VECTOR_KEY, PdacradDataLoader
from pdacrad.nnunet_ext.networks.radiomics_net import RadiomicsUNet
from pdacrad.nnunet_ext.variants.schedules import with_loader

from .conftest import CONFIGURATION, DATASET, TinyDataset

RADIOMICS = "nnUNetTrainerRadiomicsSmoke"


@pytest.fixture(scope="module")
def trainer_and_batch(tiny_dataset: TinyDataset):
    """An initialised Stage-2 smoke trainer (fold 1, CPU, FiLM weights made non-zero so the vector matters) and
    one training batch from its own loaders."""
    import nnunetv2.training.nnUNetTrainer.nnUNetTrainer as nnunet_trainer_module
    from nnunetv2.run.run_training import get_trainer_from_args

    with pytest.MonkeyPatch.context() as mp:
        tiny_dataset.use(mp)
        original_loader = nnunet_trainer_module.nnUNetDataLoader
        trainer = get_trainer_from_args(DATASET, CONFIGURATION, 1, RADIOMICS, device=torch.device("cpu"))
        trainer.initialize()
        train, _ = trainer.get_dataloaders()
        assert nnunet_trainer_module.nnUNetDataLoader is original_loader  # nnU-Net's own name untouched
        assert type(train.data_loader) is PdacradDataLoader
        batch = next(train)
    net = trainer.network_module()
    torch.manual_seed(3)
    with torch.no_grad():
        net.bottleneck_attention.film.weight.normal_(0, 0.5)
    return trainer, batch


def _reference_train_step(trainer, batch: dict) -> float:
    """The step the trainer used to copy from nnU-Net 2.8.1, with the vector passed explicitly."""
    g = batch[GLOBAL_VECTOR_KEY]
    trainer.optimizer.zero_grad(set_to_none=True)
    loss = trainer.loss(trainer.network(batch["data"], g), batch["target"])
    loss.backward()
    torch.nn.utils.clip_grad_norm_(trainer.network.parameters(), 12)
    trainer.optimizer.step()
    return float(loss.detach())


def _state(trainer) -> tuple[dict, dict]:
    return copy.deepcopy(trainer.network.state_dict()), copy.deepcopy(trainer.optimizer.state_dict())


def _grads(trainer) -> dict[str, torch.Tensor | None]:
    return {n: None if p.grad is None else p.grad.clone() for n, p in trainer.network.named_parameters()}


@pytest.mark.slow
def test_train_step_equals_the_explicit_vector_step(trainer_and_batch) -> None:
    trainer, batch = trainer_and_batch
    trainer.network.train()
    network0, optimizer0 = _state(trainer)
    loss = float(trainer.train_step(batch)["loss"])
    grads, after = _grads(trainer), copy.deepcopy(trainer.network.state_dict())
    assert trainer.network_module().condition is None  # released after the step
    trainer.network.load_state_dict(network0)
    trainer.optimizer.load_state_dict(optimizer0)
    assert loss == _reference_train_step(trainer, batch)
    reference = _grads(trainer)
    assert grads.keys() == reference.keys()
    for name, grad in grads.items():
        assert (grad is None and reference[name] is None) or torch.equal(grad, reference[name]), name
    for name, value in trainer.network.state_dict().items():
        assert torch.equal(after[name], value), name
    film = trainer.network_module().bottleneck_attention.film.weight
    assert film.grad.abs().sum() > 0  # the vector reached the loss
    trainer.network.load_state_dict(network0)
    trainer.optimizer.load_state_dict(optimizer0)


class _Explicit(nn.Module):
    """``network(x)`` → ``net(x, g)``: nnU-Net's step with the vector passed explicitly, for the reference."""

    def __init__(self, net: RadiomicsUNet, g: torch.Tensor) -> None:
        super().__init__()
        self.net, self.g = net, g

    def forward(self, x: torch.Tensor):  # type: ignore[no-untyped-def]
        return self.net(x, self.g)


@pytest.mark.slow
def test_validation_step_equals_the_explicit_vector_step(trainer_and_batch) -> None:
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    trainer, batch = trainer_and_batch
    trainer.network.eval()
    with torch.no_grad():
        ours = trainer.validation_step({**batch, "target": [t.clone() for t in batch["target"]]})
        network = trainer.network
        trainer.network = _Explicit(network, batch[GLOBAL_VECTOR_KEY])
        try:
            reference = nnUNetTrainer.validation_step(trainer, batch)
        finally:
            trainer.network = network
    assert set(ours) == set(reference) == {"loss", "tp_hard", "fp_hard", "fn_hard"}
    for key in ours:
        np.testing.assert_array_equal(ours[key], reference[key])
    # the rows are per sample: changing the second sample's vector changes the loss
    other = batch[GLOBAL_VECTOR_KEY].clone()
    other[1] += 2.0
    with torch.no_grad():
        assert trainer.validation_step({**batch, GLOBAL_VECTOR_KEY: other})["loss"] != ours["loss"]


def test_a_batch_without_one_vector_per_sample_is_refused_and_leaves_no_condition(trainer_and_batch) -> None:
    trainer, batch = trainer_and_batch
    without = {k: v for k, v in batch.items() if k != GLOBAL_VECTOR_KEY}
    with pytest.raises(InvalidInputError, match="no 'global_vector'"):
        trainer.validation_step(without)
    with pytest.raises(InvalidInputError, match="global vectors for 1 samples, data for 2"):
        trainer.validation_step({**batch, GLOBAL_VECTOR_KEY: batch[GLOBAL_VECTOR_KEY][:1]})
    net = trainer.network_module()
    with pytest.raises(ValueError, match=r"\(B, 4\) matrix"), net.conditioned_per_sample(torch.zeros(4)):
        pass
    assert net.condition is None


def test_with_loader_refuses_a_method_that_builds_no_nnunet_loader() -> None:
    def get_dataloaders(self):  # type: ignore[no-untyped-def]
        return None

    with pytest.raises(RuntimeError, match="no longer constructs nnUNetDataLoader"):
        with_loader(get_dataloaders, PdacradDataLoader)
