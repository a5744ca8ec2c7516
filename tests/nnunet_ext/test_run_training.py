"""The smoke trainers through nnU-Net's own entry, ``nnunetv2.run.run_training.run_training`` (what
``nnUNetv2_train -tr <trainer>`` calls), on the tiny dataset and the CPU: training, the snapshots PI-CAI selection
scores later (offline, in the training tree), nnU-Net's final validation, ``--val`` from the checkpoint, the vector each sample and each validation case got, and the
networks inference rebuilds from the model folder.

nnU-Net's final validation exports through a spawn pool of ``nnUNet_def_n_proc`` workers; that value is read when
nnunetv2 is first imported (possibly by an earlier test), so the tests set the variable (for the pool's children)
and nnU-Net's module constant (for this process) to 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pdacrad.model.checks import checkpoint_names
from pdacrad.nnunet_ext import build_network, find_trainer
from pdacrad.nnunet_ext.checkpoint_selection import (
    BEST_PICAI_CHECKPOINT,
    SELECTION_LOG,
    SNAPSHOT_GLOB,
    snapshot_name,
)
from pdacrad.nnunet_ext.conditioning.data_loading import GLOBAL_VECTOR_KEY, PdacradDataLoader
from pdacrad.nnunet_ext.conditioning.global_vectors import (
    GLOBAL_VECTORS_FILENAME,
    load_global_vectors,
    save_global_vectors,
)
from pdacrad.nnunet_ext.networks.builder import FOLD_SETTINGS_FILENAME, PLANS_KEY, read_fold_settings
from pdacrad.nnunet_ext.networks.radiomics_net import RadiomicsUNet

from .conftest import CASES, CONFIGURATION, DATASET, SPLITS, TinyDataset, case_vectors

PICAI, RADIOMICS = "nnUNetTrainerPicaiSmoke", "nnUNetTrainerRadiomicsSmoke"
#: Fold 0's own feature list (per-fold selection), different from the pooled list in the preprocessed folder.
FOLD0_FEATURES = ("original_glrlm_RunEntropy", "original_shape_Sphericity", "original_firstorder_Median")
VAL_KEYS = SPLITS[0]["val"]


def _use_nnunet(dataset: TinyDataset, mp: pytest.MonkeyPatch) -> None:
    import nnunetv2.training.nnUNetTrainer.nnUNetTrainer as nnunet_trainer_module

    dataset.use(mp)
    mp.setenv("nnUNet_def_n_proc", "1")
    mp.setattr(nnunet_trainer_module, "default_num_processes", 1)


@pytest.fixture(scope="module")
def trained(tiny_dataset: TinyDataset) -> TinyDataset:
    """``run_training`` of both smoke trainers, fold 0, on the CPU (training + final validation)."""
    from nnunetv2.run.run_training import run_training

    fold0 = tiny_dataset.model_folder(RADIOMICS) / "fold_0"
    save_global_vectors(
        fold0 / GLOBAL_VECTORS_FILENAME, FOLD0_FEATURES, case_vectors(FOLD0_FEATURES, seed=20)
    )
    with pytest.MonkeyPatch.context() as mp:
        _use_nnunet(tiny_dataset, mp)
        for trainer in (PICAI, RADIOMICS):
            torch.manual_seed(0)
            run_training(DATASET, CONFIGURATION, 0, trainer_class_name=trainer, device=torch.device("cpu"))
    return tiny_dataset


def _plans_and_managers(model_folder: Path) -> tuple:
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    plans = PlansManager(str(model_folder / "plans.json"))
    conf = plans.get_configuration(CONFIGURATION)
    dataset_json = json.loads((model_folder / "dataset.json").read_text())
    channels_in = determine_num_input_channels(plans, conf, dataset_json)
    channels_out = plans.get_label_manager(dataset_json).num_segmentation_heads
    return plans, conf, channels_in, channels_out


@pytest.mark.slow
@pytest.mark.parametrize("trainer", [PICAI, RADIOMICS])
def test_run_training_validates_and_keeps_snapshots(trained: TinyDataset, trainer: str) -> None:
    """Training saves a snapshot every ``picai_every`` epochs (smoke: after epoch 1 of 2) in nnU-Net's checkpoint
    format less the optimizer state, and selects nothing itself: no score, no PI-CAI checkpoint, until ``select-checkpoint`` runs."""
    model = trained.model_folder(trainer)
    fold = model / "fold_0"
    for case in VAL_KEYS:  # nnU-Net's final validation, in raw geometry
        assert (fold / "validation" / f"{case}.nii.gz").is_file()
    summary = json.loads((fold / "validation" / "summary.json").read_text())
    assert len(summary["metric_per_case"]) == len(VAL_KEYS)
    final = torch.load(fold / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    assert final["trainer_name"] == trainer and final["current_epoch"] == 2
    assert [p.name for p in fold.glob(SNAPSHOT_GLOB)] == [snapshot_name(1)]
    snapshot = torch.load(fold / snapshot_name(1), map_location="cpu", weights_only=False)
    assert snapshot["current_epoch"] == 1 and set(snapshot) == set(final) - {
        "optimizer_state",
        "grad_scaler_state",
    }
    assert snapshot["inference_allowed_mirroring_axes"] == final["inference_allowed_mirroring_axes"]
    changed = [
        k for k, w in final["network_weights"].items() if not torch.equal(w, snapshot["network_weights"][k])
    ]
    assert changed, "the snapshot must hold epoch 1's weights, not the final ones"
    assert not (fold / SELECTION_LOG).exists() and not (fold / BEST_PICAI_CHECKPOINT).exists()
    assert checkpoint_names(model, None, ("checkpoint_final.pth",)) == ("checkpoint_final.pth",)


@pytest.mark.slow
def test_radiomics_fold_trains_on_its_own_feature_list(trained: TinyDataset) -> None:
    model = trained.model_folder(RADIOMICS)
    assert read_fold_settings(model / "fold_0").global_features == FOLD0_FEATURES  # type: ignore[union-attr]
    plans = json.loads((model / "plans.json").read_text())
    assert plans["configurations"][CONFIGURATION][PLANS_KEY]["global_features"] == list(FOLD0_FEATURES)
    weights = torch.load(model / "fold_0" / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    assert weights["network_weights"]["bottleneck_attention.query.weight"].shape[1] == len(FOLD0_FEATURES)
    assert not (trained.model_folder(PICAI) / "fold_0" / FOLD_SETTINGS_FILENAME).exists()


@pytest.mark.slow
@pytest.mark.parametrize("trainer", [PICAI, RADIOMICS])
def test_build_network_matches_the_trainer_and_loads_the_checkpoint(
    trained: TinyDataset, trainer: str
) -> None:
    model = trained.model_folder(trainer)
    plans, conf, channels_in, channels_out = _plans_and_managers(model)
    net = build_network(trainer, plans, conf, channels_in, channels_out, fold_folder=model / "fold_0")
    weights = torch.load(model / "fold_0" / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    net.load_state_dict(weights["network_weights"])  # strict: same architecture as trained
    assert isinstance(net, RadiomicsUNet) == (trainer == RADIOMICS)
    reference = find_trainer(trainer).build_network_architecture(
        plans, conf, channels_in, channels_out, False
    )
    assert {k: v.shape for k, v in net.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()
    }


@pytest.mark.slow
def test_val_rerun_conditions_each_case_on_its_own_vector(
    trained: TinyDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--val`` (``only_run_validation``) through nnU-Net's real ``perform_actual_validation``: every forward
    pass of the sliding-window predictor runs under the vector of the case nnU-Net says it is predicting."""
    from nnunetv2.run.run_training import run_training
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    fold = trained.model_folder(RADIOMICS) / "fold_0"
    for case in VAL_KEYS:
        (fold / "validation" / f"{case}.nii.gz").unlink()
    current: list[str] = []
    seen: list[tuple[str, np.ndarray | None]] = []
    log_to_file, forward = nnUNetTrainer.print_to_log_file, RadiomicsUNet.forward

    def spy_log(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if args and str(args[0]).startswith("predicting "):
            current.append(str(args[0]).removeprefix("predicting "))
        return log_to_file(self, *args, **kwargs)

    def spy_forward(self, x, g=None):  # type: ignore[no-untyped-def]
        condition = None if self.condition is None else self.condition.numpy().copy()
        seen.append((current[-1] if current else "", condition))
        return forward(self, x, g)

    monkeypatch.setattr(nnUNetTrainer, "print_to_log_file", spy_log)
    monkeypatch.setattr(RadiomicsUNet, "forward", spy_forward)
    _use_nnunet(trained, monkeypatch)
    run_training(
        DATASET,
        CONFIGURATION,
        0,
        trainer_class_name=RADIOMICS,
        only_run_validation=True,
        device=torch.device("cpu"),
    )
    vectors = load_global_vectors(fold)  # fold 0's own vectors
    assert current == sorted(VAL_KEYS) and {case for case, _ in seen} == set(VAL_KEYS)
    for case, condition in seen:
        assert condition is not None
        np.testing.assert_array_equal(condition[0], vectors.vector(case))
    assert not np.allclose(vectors.vector(VAL_KEYS[0]), vectors.vector(VAL_KEYS[1]))
    for case in VAL_KEYS:
        assert (fold / "validation" / f"{case}.nii.gz").is_file()


@pytest.mark.slow
def test_batches_carry_each_samples_vector_through_nnunet_augmentation(
    trained: TinyDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nnU-Net's loaders as the trainer builds them, augmentation in one nnU-Net worker process: every sample's
    row of ``batch['global_vector']`` is the vector of its key."""
    from batchgenerators.dataloading.nondet_multi_threaded_augmenter import NonDetMultiThreadedAugmenter
    from nnunetv2.run.run_training import get_trainer_from_args

    _use_nnunet(trained, monkeypatch)
    monkeypatch.setenv("nnUNet_n_proc_DA", "1")
    trainer = get_trainer_from_args(DATASET, CONFIGURATION, 0, RADIOMICS, device=torch.device("cpu"))
    trainer.initialize()
    train, val = trainer.get_dataloaders()
    vectors = load_global_vectors(trained.model_folder(RADIOMICS) / "fold_0")
    try:
        assert isinstance(train, NonDetMultiThreadedAugmenter)
        assert type(train.generator) is PdacradDataLoader and type(val.generator) is PdacradDataLoader
        keys_seen = set()
        for loader in (train, train, train, val):
            batch = next(loader)
            assert batch["data"].shape[0] == len(batch["keys"]) == batch[GLOBAL_VECTOR_KEY].shape[0]
            expected = np.stack([vectors.vector(str(k)) for k in batch["keys"]])
            np.testing.assert_array_equal(batch[GLOBAL_VECTOR_KEY].numpy(), expected)
            keys_seen.update(str(k) for k in batch["keys"])
        assert keys_seen <= set(CASES) and len(keys_seen) >= 2
    finally:
        train._finish()
        val._finish()


@pytest.mark.slow
def test_nnunet_predictor_loads_the_radiomics_model_folder(trained: TinyDataset, monkeypatch) -> None:
    """nnU-Net's own predictor finds the trainer by name and rebuilds the RadiomicsUNet from plans.json (every
    fold here has the same feature count)."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    _use_nnunet(trained, monkeypatch)
    model = trained.model_folder(RADIOMICS)
    predictor = nnUNetPredictor(
        tile_step_size=0.5, use_mirroring=True, device=torch.device("cpu"), allow_tqdm=False
    )
    predictor.initialize_from_trained_model_folder(str(model), (0,), "checkpoint_final.pth")
    net = predictor.network
    assert isinstance(net, RadiomicsUNet) and net.num_global_features == len(FOLD0_FEATURES)
    data = torch.randn(3, 20, 40, 40)
    with pytest.raises(RuntimeError, match="without a global vector"):
        predictor.predict_sliding_window_return_logits(data)
    with net.conditioned_on(torch.zeros(len(FOLD0_FEATURES))):
        logits = predictor.predict_sliding_window_return_logits(data)
    assert logits.shape == (3, 20, 40, 40) and torch.isfinite(logits).all()


@pytest.mark.slow
def test_plain_trainer_builds_our_loader_without_vectors(
    trained: TinyDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nnunetv2.run.run_training import get_trainer_from_args

    _use_nnunet(trained, monkeypatch)
    trainer = get_trainer_from_args(DATASET, CONFIGURATION, 0, PICAI, device=torch.device("cpu"))
    trainer.initialize()
    train, _ = trainer.get_dataloaders()  # in-process (nnUNet_n_proc_DA=0)
    loader = train.data_loader
    assert type(loader) is PdacradDataLoader and loader.global_vectors is None
    assert loader.lesion_probability == trainer.LESION_PATCH_PROBABILITY > 0
    batch = next(train)
    assert GLOBAL_VECTOR_KEY not in batch and set(batch) == {"data", "target", "keys"}


def test_a_trained_fold_refuses_a_changed_feature_list(
    tiny_dataset: TinyDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--c`` / ``--val`` of a fold whose checkpoint was trained on other features than its vectors now name."""
    from pdacrad.errors import InvalidInputError
    from pdacrad.nnunet_ext.networks.builder import RadiomicsNetworkSettings, write_fold_settings
    from pdacrad.nnunet_ext.variants.radiomics import nnUNetTrainerRadiomics

    _use_nnunet(tiny_dataset, monkeypatch)
    monkeypatch.setenv("nnUNet_results", str(tmp_path))
    fold = tmp_path / DATASET / f"nnUNetTrainerRadiomics__nnUNetPlans__{CONFIGURATION}" / "fold_1"
    write_fold_settings(fold, RadiomicsNetworkSettings(("old_a", "old_b")), "nnUNetTrainerRadiomics")
    plans = json.loads((tiny_dataset.preprocessed / "nnUNetPlans.json").read_text())
    dataset_json = json.loads((tiny_dataset.preprocessed / "dataset.json").read_text())

    def build() -> nnUNetTrainerRadiomics:
        return nnUNetTrainerRadiomics(
            {**plans, "continue_training": True}, CONFIGURATION, 1, dataset_json, torch.device("cpu")
        )

    assert build().radiomics_settings.global_features == tuple(
        load_global_vectors(tiny_dataset.preprocessed).feature_names
    )
    (fold / "checkpoint_final.pth").write_bytes(b"")
    with pytest.raises(InvalidInputError, match="trained with global features \\['old_a', 'old_b'\\]"):
        build()
