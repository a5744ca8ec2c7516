"""The vector that travels with each case nnU-Net's dataset loads, and the load-order checks of final validation."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from pdacrad.errors import InvalidInputError
from pdacrad.nnunet_ext.conditioning.case_vectors import (
    GLOBAL_VECTOR_PROPERTY,
    CaseOrderError,
    LoadOrderConditioner,
    dataset_class_with_vectors,
)
from pdacrad.nnunet_ext.conditioning.global_vectors import GlobalVectors
from pdacrad.nnunet_ext.networks.radiomics_net import RadiomicsUNet

from .test_radiomics_net import tiny_unet

VECTORS = GlobalVectors(
    ("f0", "f1", "f2", "f4", "f5", "f6"), {f"c{i}": np.full(6, i, np.float32) for i in range(3)}
)


class NnunetLikeDataset:
    """The part of nnU-Net's dataset interface the mixin relies on (constructor, attributes, load_case)."""

    def __init__(self, folder, identifiers=None, folder_with_segs_from_previous_stage=None):  # type: ignore[no-untyped-def]
        self.source_folder = folder
        self.identifiers = sorted(identifiers or [])
        self.folder_with_segs_from_previous_stage = folder_with_segs_from_previous_stage

    def load_case(self, identifier):  # type: ignore[no-untyped-def]
        return np.zeros((1, 16, 32, 32), np.float32), None, None, {"spacing": [1, 1, 1], "id": identifier}


@pytest.fixture
def setup():  # type: ignore[no-untyped-def]
    net = RadiomicsUNet(tiny_unet(in_channels=1), num_global_features=6).eval()
    conditioner = LoadOrderConditioner()
    cls = dataset_class_with_vectors(NnunetLikeDataset, VECTORS, conditioner)
    return net, conditioner, cls("folder", ["c2", "c0", "c1"])


def test_loaded_case_carries_its_vector_and_pickles_as_nnunets_class(setup) -> None:  # type: ignore[no-untyped-def]
    _, _, dataset = setup
    _, _, _, properties = dataset.load_case("c2")
    np.testing.assert_array_equal(properties[GLOBAL_VECTOR_PROPERTY], VECTORS.vector("c2"))
    assert properties["id"] == "c2"
    copy = pickle.loads(pickle.dumps(dataset))
    assert type(copy) is NnunetLikeDataset and copy.identifiers == ["c0", "c1", "c2"]
    with pytest.raises(InvalidInputError, match="c9"):
        dataset.load_case("c9")


def test_each_prediction_runs_under_the_vector_of_the_case_loaded_last(setup) -> None:  # type: ignore[no-untyped-def]
    net, conditioner, dataset = setup
    seen = []
    net.register_forward_pre_hook(lambda module, args: seen.append(module.condition.clone()))
    x = torch.zeros(1, 1, 16, 32, 32)
    dataset.load_case("c0")  # inert outside conditioning
    assert net.condition is None
    with conditioner.conditioning(net), torch.no_grad():
        for case in ("c1", "c2"):
            dataset.load_case(case)
            net(x)
            net(torch.flip(x, (2,)))  # a mirrored copy: same case
    assert [int(v[0, 0]) for v in seen] == [1, 1, 2, 2]
    assert net.condition is None  # nothing outlives the validation


def test_prefetching_and_predicting_before_loading_fail_loudly(setup) -> None:  # type: ignore[no-untyped-def]
    net, conditioner, dataset = setup
    x = torch.zeros(1, 1, 16, 32, 32)
    with conditioner.conditioning(net), torch.no_grad():
        with pytest.raises(CaseOrderError, match="before nnU-Net loaded"):
            net(x)
        dataset.load_case("c0")
        with pytest.raises(CaseOrderError, match="loaded validation case 'c1' before predicting 'c0'"):
            dataset.load_case("c1")
