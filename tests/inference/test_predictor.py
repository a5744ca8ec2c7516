"""Loading an nnU-Net v2 model folder once (network built from the trainer class, manual_initialization) and
predicting cases in-process; every broken folder is a ResourceError naming the file."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from pdacrad.errors import ResourceError
from pdacrad.inference.predictor import StageModel
from tests.random_model import PANORAMA_LABELS, write_random_model_folder

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    return write_random_model_folder(
        tmp_path_factory.mktemp("model") / "stage2",
        labels=PANORAMA_LABELS,
        spacing_zyx=(3.0, 3.0, 3.0),
        patch_size_zyx=(16, 32, 32),
        n_channels=2,
    )


def test_load_reads_trainer_configuration_folds_and_channels(model_folder):
    model = StageModel.load(model_folder, CPU, show_progress=False)
    assert model.info.trainer_name == "nnUNetTrainer"
    assert model.info.configuration == "3d_fullres"
    assert model.info.folds == ("fold_0",)
    assert model.info.num_input_channels == 2
    assert model.info.labels["PDAC"] == 1


def test_predict_returns_labels_and_softmax_on_the_input_grid(model_folder):
    model = StageModel.load(model_folder, CPU, show_progress=False)
    rng = np.random.default_rng(1)
    image = rng.normal(100, 50, (2, 20, 40, 36)).astype(np.float32)
    out = model.predict(image, (3.0, 3.0, 3.0), probabilities=True)
    assert out.labels.shape == (20, 40, 36) and out.labels.dtype == np.uint8
    assert out.probabilities is not None and out.probabilities.shape == (7, 20, 40, 36)
    np.testing.assert_allclose(out.probabilities.sum(axis=0), 1.0, atol=1e-3)
    np.testing.assert_array_equal(out.labels, out.probabilities.argmax(axis=0))
    labels_only = model.predict(image, (3.0, 3.0, 3.0), probabilities=False)
    assert labels_only.probabilities is None
    with pytest.raises(ValueError, match="expects"):
        model.predict(image[:1], (3.0, 3.0, 3.0), probabilities=False)


def test_folds_are_ensembled_and_best_checkpoint_is_a_fallback(model_folder, tmp_path):
    folder = shutil.copytree(model_folder, tmp_path / "m")
    shutil.copytree(folder / "fold_0", folder / "fold_1")
    (folder / "fold_1" / "checkpoint_final.pth").rename(folder / "fold_1" / "checkpoint_best.pth")
    model = StageModel.load(folder, CPU, show_progress=False)
    assert model.info.folds == ("fold_0", "fold_1")
    shutil.copytree(folder / "fold_0", folder / "fold_all")
    assert StageModel.load(folder, CPU).info.folds == ("fold_0", "fold_1"), (
        "fold_all is not ensembled with folds"
    )


def test_a_model_trained_on_all_cases_loads_from_fold_all(model_folder, tmp_path):
    folder = shutil.copytree(model_folder, tmp_path / "m")
    (folder / "fold_0").rename(folder / "fold_all")
    assert StageModel.load(folder, CPU).info.folds == ("fold_all",)


def test_missing_checkpoint_unknown_trainer_and_wrong_weights_are_resource_errors(model_folder, tmp_path):
    empty = shutil.copytree(model_folder, tmp_path / "empty")
    (empty / "fold_0" / "checkpoint_final.pth").unlink()
    with pytest.raises(ResourceError, match="no fold_"):
        StageModel.load(empty, CPU)

    folder = shutil.copytree(model_folder, tmp_path / "unknown")
    ckpt_path = folder / "fold_0" / "checkpoint_final.pth"
    ckpt = torch.load(ckpt_path, weights_only=False)
    torch.save({**ckpt, "trainer_name": "NoSuchTrainer"}, ckpt_path)
    with pytest.raises(ResourceError, match="NoSuchTrainer"):
        StageModel.load(folder, CPU)

    wrong = shutil.copytree(model_folder, tmp_path / "wrong")
    ckpt_path = wrong / "fold_0" / "checkpoint_final.pth"
    weights = {k: v[..., :1] if v.ndim else v for k, v in ckpt["network_weights"].items()}
    torch.save({**ckpt, "network_weights": weights}, ckpt_path)
    with pytest.raises(ResourceError, match="do not fit"):
        StageModel.load(wrong, CPU)

    truncated = shutil.copytree(model_folder, tmp_path / "truncated")
    ckpt_path = truncated / "fold_0" / "checkpoint_final.pth"
    ckpt_path.write_bytes(ckpt_path.read_bytes()[:1000])
    with pytest.raises(ResourceError, match=r"checkpoint_final\.pth"):
        StageModel.load(truncated, CPU)

    (truncated / "plans.json").write_text("{not json")
    with pytest.raises(ResourceError, match=r"plans\.json"):
        StageModel.load(truncated, CPU)
