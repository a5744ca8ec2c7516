"""The Stage-1 label map brought back from the plan grid only around the foreground equals nnU-Net's own export
(every class's logits resampled over the whole input, then argmax), for isotropic, separate-z, cropped and
transposed cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nnunetv2.inference.export_prediction import convert_predicted_logits_to_segmentation_with_correct_shape
from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
from scipy import ndimage

from pdacrad.inference.resample import fast_path_orders, labels_on_input_grid
from tests.random_model import PANORAMA_LABELS, _plans
from tests.random_model import STAGE1_LABELS as PANCREAS_LABELS


def _managers(labels, spacing_zyx, transpose=(0, 1, 2), **kwargs):
    plans = _plans(spacing_zyx, (16, 32, 32), (4, 8), 1)
    plans["transpose_forward"] = list(transpose)
    plans["transpose_backward"] = [int(i) for i in np.argsort(transpose)]
    conf = plans["configurations"]["3d_fullres"]
    conf["resampling_fn_probabilities_kwargs"].update(kwargs)
    manager = PlansManager(plans)
    label_manager = manager.get_label_manager({"labels": labels, "channel_names": {"0": "CT"}})
    return manager, manager.get_configuration("3d_fullres"), label_manager


def _logits(n_classes, shape, seed, blob_fraction=0.02):
    rng = np.random.default_rng(seed)
    logits = ndimage.gaussian_filter(rng.normal(size=(n_classes, *shape)), (0, 1.5, 1.5, 1.5))
    # a compact foreground: class k wins inside a few smooth blobs only
    logits[0] += np.quantile(logits[1:].max(axis=0), 1 - blob_fraction)
    return torch.as_tensor(logits.astype(np.float32))


CASES = [
    # labels, plan spacing (z, y, x), input spacing (transposed), input shape before crop, bbox, transpose, kwargs
    (PANCREAS_LABELS, (5.0, 2.5, 2.5), (2.0, 0.75, 0.75), (50, 120, 110), None, (0, 1, 2), {}),
    (
        PANORAMA_LABELS,
        (3.0, 1.5, 1.5),
        (2.5, 0.7, 0.8),
        (30, 70, 60),
        [[2, 29], [5, 66], [0, 60]],
        (0, 1, 2),
        {},
    ),
    (PANCREAS_LABELS, (7.0, 2.0, 2.0), (1.0, 1.0, 1.0), (56, 50, 44), None, (0, 1, 2), {"order_z": 1}),
    (PANCREAS_LABELS, (2.0, 2.0, 2.0), (0.8, 0.8, 3.5), (40, 44, 20), None, (2, 1, 0), {}),
    (PANCREAS_LABELS, (2.0, 2.0, 2.0), (2.0, 2.0, 2.0), (20, 24, 22), None, (0, 1, 2), {}),
]


@pytest.mark.parametrize("labels, plan, spacing, shape, bbox, transpose, kwargs", CASES)
def test_labels_equal_nnunets_export(labels, plan, spacing, shape, bbox, transpose, kwargs):
    manager, conf, label_manager = _managers(labels, plan, transpose, **kwargs)
    bbox = bbox or [[0, s] for s in shape]
    cropped = tuple(hi - lo for lo, hi in bbox)
    low = tuple(round(c * s / p) for c, s, p in zip(cropped, spacing, conf.spacing, strict=True))
    props = {
        "spacing": [spacing[i] for i in np.argsort(transpose)],  # as read, before transpose_forward
        "shape_before_cropping": shape,
        "bbox_used_for_cropping": bbox,
        "shape_after_cropping_and_before_resampling": cropped,
    }
    assert fast_path_orders(manager, conf, label_manager, props) is not None
    for seed in range(3):
        logits = _logits(len(labels), low, seed)
        expected = convert_predicted_logits_to_segmentation_with_correct_shape(
            logits.clone(), manager, conf, label_manager, dict(props)
        )
        got = labels_on_input_grid(logits, manager, conf, label_manager, dict(props))
        assert got.dtype == np.uint8 and got.shape == expected.shape
        assert expected.any() and (expected == 0).any()
        np.testing.assert_array_equal(got, expected)


def test_no_foreground_gives_zeros_and_other_orders_fall_back_to_nnunet():
    manager, conf, label_manager = _managers(PANCREAS_LABELS, (4.0, 2.0, 2.0))
    props = {
        "spacing": [2.0, 1.0, 1.0],
        "shape_before_cropping": (20, 30, 30),
        "bbox_used_for_cropping": [[0, 20], [0, 30], [0, 30]],
        "shape_after_cropping_and_before_resampling": (20, 30, 30),
    }
    logits = torch.zeros((2, 10, 15, 15))
    logits[0] = 1.0
    assert not labels_on_input_grid(logits, manager, conf, label_manager, props).any()
    manager3, conf3, lm3 = _managers(PANCREAS_LABELS, (4.0, 2.0, 2.0), order=3)
    assert fast_path_orders(manager3, conf3, lm3, props) is None
    logits = _logits(2, (10, 15, 15), 0)
    expected = convert_predicted_logits_to_segmentation_with_correct_shape(
        logits.clone(), manager3, conf3, lm3, props
    )
    np.testing.assert_array_equal(labels_on_input_grid(logits, manager3, conf3, lm3, props), expected)
