"""nnUNetTrainerRadiomics on a tiny synthetic nnU-Net dataset (CT + 2 map channels, 4 cases): a few CPU
iterations through nnU-Net's own loop, PI-CAI checkpoint selection, and loading the checkpoint back the way
inference does (nnU-Net's predictor finding the trainer by name)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from pdacrad.errors import InvalidInputError, ResourceError
from pdacrad.nnunet_ext.global_vectors import load_global_vectors, save_global_vectors
from pdacrad.nnunet_ext.picai_selection import BEST_PICAI_CHECKPOINT, SELECTION_LOG, preferred_checkpoint_name
from pdacrad.nnunet_ext.radiomics_trainer import PLANS_KEY, nnUNetTrainerRadiomics

DATASET_ID, DATASET = 987, "Dataset987_RadiomicsTiny"
CASES = ("case_000", "case_001", "case_002", "case_003")
FEATURES = ("original_glcm_Correlation", "original_firstorder_Mean", "log-sigma-2-0-mm-3D_glcm_Idm", "x_y_Z")
SIZE_ZYX, SPACING_XYZ = (20, 40, 40), (1.0, 1.0, 2.0)
TRAINER_DIR = Path(__file__).resolve().parents[2] / "src" / "pdacrad" / "nnunet_ext"


def _write_raw_case(raw: Path, case: str, positive: bool, rng: np.random.Generator) -> None:
    """CT (HU) with a pancreas box (label 2) and, when positive, a hypo-attenuating lesion (label 1); two
    'map' channels (a texture-like noise map and a smooth one), all on the CT grid."""
    z, y, x = np.mgrid[: SIZE_ZYX[0], : SIZE_ZYX[1], : SIZE_ZYX[2]]
    label = np.zeros(SIZE_ZYX, np.uint8)
    label[6:14, 10:30, 8:32] = 2
    ct = np.where(label == 2, 110.0, 40.0) + rng.normal(0, 10, SIZE_ZYX)
    if positive:
        label[8:12, 15:22, 14:22] = 1
        ct[label == 1] = 50.0
    maps = [np.abs(rng.normal(0, 1, SIZE_ZYX)) * (1 + (label == 1)), np.sin(x / 5.0) + z / 20.0 + 0 * y]
    for index, array in enumerate([ct.astype(np.int16), *[m.astype(np.float32) for m in maps]]):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing(SPACING_XYZ)
        sitk.WriteImage(image, str(raw / "imagesTr" / f"{case}_{index:04d}.nii.gz"))
    seg = sitk.GetImageFromArray(label)
    seg.SetSpacing(SPACING_XYZ)
    sitk.WriteImage(seg, str(raw / "labelsTr" / f"{case}.nii.gz"))


def _tiny_plans(plans: dict) -> dict:
    """3 stages, 4-8-16 features, patch 16×32×32, batch 2: seconds per iteration on a CPU."""
    conf = plans["configurations"] = {"3d_fullres": plans["configurations"]["3d_fullres"]}
    conf = plans["configurations"]["3d_fullres"]
    conf.update(patch_size=[16, 32, 32], batch_size=2)
    arch = conf["architecture"]["arch_kwargs"]
    arch.update(
        n_stages=3,
        features_per_stage=[4, 8, 16],
        kernel_sizes=[[1, 3, 3], [3, 3, 3], [3, 3, 3]],
        strides=[[1, 1, 1], [1, 2, 2], [2, 2, 2]],
        n_conv_per_stage=[2, 2, 2],
        n_conv_per_stage_decoder=[1, 1],
    )
    return plans


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Plan, preprocess and train 2 epochs × 2 iterations (PI-CAI selection each epoch); yields the trainer."""
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprint_dataset,
        plan_experiment_dataset,
        preprocess_dataset,
    )

    root = tmp_path_factory.mktemp("nnunet")
    with pytest.MonkeyPatch.context() as mp:
        for name in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
            mp.setenv(name, str(root / name))
            (root / name).mkdir()
        mp.setenv("nnUNet_extTrainer", str(TRAINER_DIR))
        raw = root / "nnUNet_raw" / DATASET
        (raw / "imagesTr").mkdir(parents=True)
        (raw / "labelsTr").mkdir()
        rng = np.random.default_rng(0)
        for i, case in enumerate(CASES):
            _write_raw_case(raw, case, positive=i % 2 == 1, rng=rng)
        (raw / "dataset.json").write_text(
            json.dumps(
                {
                    "channel_names": {"0": "CT", "1": "zscore", "2": "zscore"},
                    "labels": {"background": 0, "PDAC": 1, "pancreas": 2},
                    "numTraining": len(CASES),
                    "file_ending": ".nii.gz",
                }
            )
        )
        extract_fingerprint_dataset(DATASET_ID, num_processes=1, verbose=False, show_progress_bar=False)
        plan_experiment_dataset(DATASET_ID)
        pre = root / "nnUNet_preprocessed" / DATASET
        plans = _tiny_plans(json.loads((pre / "nnUNetPlans.json").read_text()))
        (pre / "nnUNetPlans.json").write_text(json.dumps(plans))
        preprocess_dataset(DATASET_ID, "nnUNetPlans", ["3d_fullres"], [1], show_progress_bar=False)
        (pre / "splits_final.json").write_text(
            json.dumps([{"train": list(CASES), "val": ["case_001", "case_002"]}])
        )
        vectors = {c: np.random.default_rng(10 + i).normal(size=len(FEATURES)) for i, c in enumerate(CASES)}
        save_global_vectors(pre, FEATURES, vectors)

        mp.setenv(
            "nnUNet_n_proc_DA", "0"
        )  # in-process augmentation (after planning, which reads it as threads)
        torch.manual_seed(0)
        plans["continue_training"] = False
        dataset_json = json.loads((pre / "dataset.json").read_text())
        trainer = nnUNetTrainerRadiomics(plans, "3d_fullres", 0, dataset_json, device=torch.device("cpu"))
        trainer.num_epochs, trainer.num_iterations_per_epoch, trainer.num_val_iterations_per_epoch = 2, 2, 1
        trainer.picai_every = 1
        trainer.run_training()
        yield trainer


@pytest.mark.slow
def test_training_completes_and_saves_checkpoints(trained):
    fold = Path(trained.output_folder)
    assert (fold / "checkpoint_final.pth").is_file()
    log = json.loads((fold / SELECTION_LOG).read_text())
    assert [h["epoch"] for h in log["history"]] == [0, 1]
    assert all(h["num_cases"] == 2 and h["num_positive"] == 1 for h in log["history"])
    scores = [h["score"] for h in log["history"]]
    assert log["best_score"] == max(s for s in scores if s is not None)
    assert (fold / BEST_PICAI_CHECKPOINT).is_file()
    checkpoint = torch.load(fold / BEST_PICAI_CHECKPOINT, map_location="cpu", weights_only=False)
    assert checkpoint["current_epoch"] == log["best_epoch"] + 1
    assert preferred_checkpoint_name(fold.parent) == BEST_PICAI_CHECKPOINT


@pytest.mark.slow
def test_model_folder_plans_record_the_global_features(trained):
    plans = json.loads((Path(trained.output_folder_base) / "plans.json").read_text())
    assert plans["configurations"]["3d_fullres"][PLANS_KEY]["global_features"] == list(FEATURES)


@pytest.mark.slow
def test_batch_vectors_follow_batch_keys(trained):
    table = load_global_vectors(Path(trained.preprocessed_dataset_folder_base))
    keys = ["case_003", "case_000", "case_003", "case_001"]
    matrix = trained.batch_global_vectors({"keys": np.array(keys), "data": None})
    assert matrix.shape == (4, len(FEATURES))
    for row, key in zip(matrix, keys, strict=True):
        np.testing.assert_array_equal(row.numpy(), table.vector(key))
    batch = next(trained.dataloader_train)  # nnU-Net's own loader: keys in batch order
    np.testing.assert_array_equal(
        trained.batch_global_vectors(batch).numpy(), np.stack([table.vector(k) for k in batch["keys"]])
    )
    with pytest.raises(InvalidInputError, match="case_999"):
        trained.batch_global_vectors({"keys": ["case_999"]})


@pytest.mark.slow
def test_checkpoint_loads_through_nnunet_predictor(trained, monkeypatch):
    """The container's path: nnU-Net's predictor finds the trainer by name (nnUNet_extTrainer), rebuilds the
    RadiomicsUNet from plans.json alone and predicts a case conditioned on its vector."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    monkeypatch.setenv("nnUNet_extTrainer", str(TRAINER_DIR))
    model_folder = Path(trained.output_folder_base)
    predictor = nnUNetPredictor(
        tile_step_size=0.5, use_mirroring=True, device=torch.device("cpu"), allow_tqdm=False
    )
    predictor.initialize_from_trained_model_folder(
        str(model_folder), (0,), preferred_checkpoint_name(model_folder)
    )
    net = predictor.network
    assert type(net).__name__ == "RadiomicsUNet" and net.num_global_features == len(FEATURES)
    weights = torch.load(
        model_folder / "fold_0" / BEST_PICAI_CHECKPOINT, map_location="cpu", weights_only=False
    )
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, weights["network_weights"][key])

    data, _, _, _ = trained.dataset_class(trained.preprocessed_dataset_folder, ["case_001"]).load_case(
        "case_001"
    )
    data = torch.from_numpy(np.asarray(data[:]))
    table = load_global_vectors(Path(trained.preprocessed_dataset_folder_base))
    with pytest.raises(RuntimeError, match="without a global vector"):
        predictor.predict_sliding_window_return_logits(data)
    with net.conditioned_on(table.vector("case_001")):
        logits = predictor.predict_sliding_window_return_logits(data)
    assert logits.shape == (3, *data.shape[1:]) and torch.isfinite(logits).all()


def test_plans_without_radiomics_block_are_a_resource_error():
    plain_configuration = SimpleNamespace(configuration={"patch_size": [16, 32, 32]})
    with pytest.raises(ResourceError, match="not trained with nnUNetTrainerRadiomics"):
        nnUNetTrainerRadiomics.build_network_architecture(None, plain_configuration, 3, 3, False)


@pytest.mark.slow
def test_final_validation_conditions_each_case_on_its_own_vector(trained, monkeypatch):
    """nnU-Net's perform_actual_validation loads a case, then predicts it with ``network(x)``; our override must
    make each of those calls use that case's vector. Stand-in for nnU-Net's loop (its export pool is slow)."""
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    table = load_global_vectors(Path(trained.preprocessed_dataset_folder_base))
    net = trained.network_module().eval()
    saved = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():  # a FiLM far from identity, so that the vector visibly matters
        net.bottleneck_attention.film.weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(3))
    net.decoder.deep_supervision = False
    seen = {}

    def nnunet_like_validation(self, save_probabilities=False):
        dataset = self.dataset_class(self.preprocessed_dataset_folder, ["case_001", "case_002"])
        for key in dataset.identifiers:
            data, _, _, _ = dataset.load_case(key)
            x = torch.from_numpy(np.asarray(data[:]))[None, :, :16, :32, :32]
            with torch.no_grad():
                seen[key] = (x, self.network(x))

    monkeypatch.setattr(nnUNetTrainer, "perform_actual_validation", nnunet_like_validation)
    try:
        trained.perform_actual_validation()
        assert set(seen) == {"case_001", "case_002"}
        with torch.no_grad():
            for key, (x, out) in seen.items():
                torch.testing.assert_close(out, net(x, torch.from_numpy(table.vector(key))[None]))
            x, out = seen["case_001"]
            assert (out - net(x, torch.from_numpy(table.vector("case_002"))[None])).abs().max() > 1e-4
            with pytest.raises(RuntimeError, match="without a global vector"):
                net(x)  # the last case's vector does not outlive the validation
    finally:
        net.load_state_dict(saved)
        net.decoder.deep_supervision = True
