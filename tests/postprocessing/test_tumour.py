"""Tumour probability kept inside the dilated Stage-2 pancreas (labels 1, 4, 5; 5×5×5 cube)."""

from __future__ import annotations

import numpy as np
import pytest

from pdacrad.postprocessing.tumour import anchored_region, pancreas_region, restrict_to_region


def test_region_is_labels_145_dilated_by_two_voxels_each_side():
    labels = np.zeros((20, 20, 20), np.uint8)
    labels[10, 10, 10] = 4
    labels[3, 3, 3] = 2  # vein: not part of the region
    labels[15, 15, 15] = 6  # common bile duct: not part of the region
    region = pancreas_region(labels)
    assert region.sum() == 125
    assert region[8:13, 8:13, 8:13].all()
    assert not region[7, 10, 10] and not region[13, 10, 10]
    assert not region[3, 3, 3] and not region[15, 15, 15]


@pytest.mark.parametrize("label", [1, 4, 5])
def test_each_pancreas_label_counts(label):
    labels = np.zeros((9, 9, 9), np.uint8)
    labels[4, 4, 4] = label
    assert pancreas_region(labels, cube_voxels=1).sum() == 1


def test_tumour_outside_dilated_pancreas_is_zeroed():
    labels = np.zeros((20, 20, 20), np.uint8)
    labels[5:8, 5:8, 5:8] = 4
    prob = np.full(labels.shape, 0.7, np.float32)
    out = restrict_to_region(prob, pancreas_region(labels))
    assert out[3:10, 3:10, 3:10].min() == pytest.approx(0.7)  # 3 voxels + 2 of dilation on each side
    assert out[10:, :, :].max() == 0 and out[:, :2, :].max() == 0
    assert np.count_nonzero(out) == 7**3
    assert prob.min() == pytest.approx(0.7), "input must not be modified"


def test_empty_pancreas_zeroes_everything_and_shapes_are_checked():
    labels = np.zeros((6, 6, 6), np.uint8)
    assert restrict_to_region(np.ones((6, 6, 6)), pancreas_region(labels)).max() == 0
    with pytest.raises(ValueError, match="shape"):
        restrict_to_region(np.ones((6, 6, 5)), pancreas_region(labels))
    with pytest.raises(ValueError, match="odd"):
        pancreas_region(labels, cube_voxels=4)


def test_separable_dilation_equals_the_cube_dilation():
    from scipy import ndimage

    rng = np.random.default_rng(3)
    labels = rng.choice([0, 1, 2, 4, 5, 6], size=(17, 23, 19), p=[0.97, 0.006, 0.006, 0.006, 0.006, 0.006])
    expected = ndimage.binary_dilation(np.isin(labels, (1, 4, 5)), structure=np.ones((5, 5, 5), bool))
    np.testing.assert_array_equal(pancreas_region(labels), expected)


def test_anchored_region_drops_islands_apart_from_the_stage1_pancreas() -> None:
    labels = np.zeros((12, 12, 12), dtype=np.uint8)
    labels[2:5, 2:5, 2:5] = 4  # pancreas
    labels[4:6, 4:6, 4:6] = 1  # a tumour attached to it, partly outside the Stage-1 mask
    labels[9:11, 9:11, 9:11] = 1  # an island Stage 2 calls PDAC, far from the pancreas
    anchor = np.zeros_like(labels, dtype=bool)
    anchor[3, 3, 3] = True
    region = pancreas_region(labels, cube_voxels=1)
    kept = anchored_region(region, anchor)
    assert kept[5, 5, 5] and kept[2, 2, 2]  # the tumour and the pancreas stay, whole
    assert not kept[9:11, 9:11, 9:11].any()  # the island goes
    assert kept.sum() == region.sum() - 8


def test_anchored_region_keeps_everything_when_the_stages_disagree_entirely() -> None:
    region = np.zeros((8, 8, 8), dtype=bool)
    region[1:3, 1:3, 1:3] = True
    anchor = np.zeros_like(region)
    anchor[6, 6, 6] = True
    np.testing.assert_array_equal(anchored_region(region, anchor), region)
    with pytest.raises(ValueError, match="shape"):
        anchored_region(region, anchor[:-1])
