"""nnU-Net's logits → label map on the input grid, computed only where a label can be non-zero.

nnU-Net's export (``convert_predicted_logits_to_segmentation_with_correct_shape``) resamples every class's logits
from the plan grid to the whole input grid (for Stage 1 on a 512×512×100 CT: two float64 volumes of 26 M voxels)
and then takes the argmax. With linear (order 1) or nearest (order 0) interpolation every interpolated logit
vector is a convex combination of the logit vectors of its low-resolution neighbours, so wherever the background
logit is the largest at all of them it stays the largest (up to exact ties): a voxel can be foreground only next
to a low-resolution foreground voxel. :func:`labels_on_input_grid` therefore interpolates just the box of the
low-resolution foreground grown by one voxel, with nnU-Net's own rules (``resampling_fn_probabilities`` kwargs,
its separate-z decision, the half-voxel ``(o + 0.5)·scale − 0.5`` coordinate map, edge clamping), and returns the
same label map as nnU-Net's export. Plans that use another resampling function, interpolation order > 1 or region
labels go through nnU-Net's own export instead.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

_FAST_FN = "resample_data_or_seg_to_shape"


def _axis_taps(
    n_in: int, n_out: int, order: int, lo: int, hi: int
) -> tuple[slice, np.ndarray, np.ndarray, np.ndarray] | None:
    """For one axis: the output index range whose interpolation touches low-res indices ``lo..hi`` (the grown
    foreground box), and for those outputs the two low-res taps (relative to ``lo``) and the weight of the second.

    nnU-Net (skimage ``resize`` with ``grid_mode``, and its own separate-z ``map_coordinates``) samples output
    voxel ``o`` at input coordinate ``c = (o + 0.5)·n_in/n_out − 0.5``, clamped to the edge (``mode='edge'`` /
    ``'nearest'``).
    """
    o = np.arange(n_out)
    c = np.clip((o + 0.5) * (n_in / n_out) - 0.5, 0.0, n_in - 1.0)
    if order == 0:
        i0 = np.minimum(np.floor(c + 0.5).astype(np.int64), n_in - 1)
        i1, w = i0, np.zeros_like(c)
    else:
        i0 = np.floor(c).astype(np.int64)
        i1, w = np.minimum(i0 + 1, n_in - 1), c - i0
    inside = ((i0 >= lo) & (i0 <= hi)) | ((i1 >= lo) & (i1 <= hi) & (w > 0))
    if not inside.any():
        return None
    first, last = int(np.argmax(inside)), int(n_out - 1 - np.argmax(inside[::-1]))
    span = slice(first, last + 1)
    return span, np.clip(i0[span], lo, hi) - lo, np.clip(i1[span], lo, hi) - lo, w[span]


def _interpolate_box(logits: np.ndarray, taps: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
    """Separable interpolation of ``logits`` (C, a, b, c) along each spatial axis with its taps (float64)."""
    out = logits.astype(np.float64)
    for axis, (i0, i1, w) in enumerate(taps, start=1):
        shape = [1] * out.ndim
        shape[axis] = len(w)
        weight = w.reshape(shape)
        out = np.take(out, i0, axis=axis) * (1.0 - weight) + np.take(out, i1, axis=axis) * weight
    return out


def fast_path_orders(
    plans_manager: Any, configuration_manager: Any, label_manager: Any, properties: dict
) -> tuple[int, int, int] | None:
    """Interpolation order per spatial axis (transposed plan order) nnU-Net's export would use, or ``None`` when
    the fast path does not apply (another resampling function, order > 1, region labels)."""
    from nnunetv2.preprocessing.resampling.default_resampling import determine_do_sep_z_and_axis

    conf = configuration_manager.configuration
    if conf.get("resampling_fn_probabilities") != _FAST_FN or label_manager.has_regions:
        return None
    kwargs = dict(conf.get("resampling_fn_probabilities_kwargs") or {})
    order, order_z = int(kwargs.get("order", 1)), int(kwargs.get("order_z", 0))
    target_spacing = [properties["spacing"][i] for i in plans_manager.transpose_forward]
    if len(configuration_manager.spacing) != len(target_spacing):
        return None  # 2-D configurations keep the slice spacing; not used here
    do_separate_z, axis = determine_do_sep_z_and_axis(
        kwargs.get("force_separate_z"), configuration_manager.spacing, target_spacing
    )
    orders = [order, order, order]
    if do_separate_z and axis is not None:
        orders[int(axis)] = order_z
    if max(orders) > 1:
        return None
    return (orders[0], orders[1], orders[2])


def labels_on_input_grid(
    logits: Any, plans_manager: Any, configuration_manager: Any, label_manager: Any, properties: dict
) -> np.ndarray:
    """The label map (uint8, input array order) nnU-Net's export makes from ``logits`` (C, plan-grid shape,
    transposed order) of a case preprocessed with ``properties`` — computed inside the grown foreground box only
    when the plans allow (see the module docstring), else by nnU-Net's export itself."""
    from acvl_utils.cropping_and_padding.bounding_boxes import insert_crop_into_image

    array = logits.numpy() if hasattr(logits, "numpy") else np.asarray(logits)
    orders = fast_path_orders(plans_manager, configuration_manager, label_manager, properties)
    if orders is None:
        from nnunetv2.inference.export_prediction import (
            convert_predicted_logits_to_segmentation_with_correct_shape,
        )

        logger.debug("plans need nnU-Net's full export resampling")
        return np.asarray(
            convert_predicted_logits_to_segmentation_with_correct_shape(
                logits, plans_manager, configuration_manager, label_manager, properties
            ),
            dtype=np.uint8,
        )
    shape_out = tuple(int(s) for s in properties["shape_after_cropping_and_before_resampling"])
    cropped = np.zeros(shape_out, np.uint8)
    foreground = np.argmax(array, axis=0) > 0
    if foreground.any():
        low = [int(a.min()) for a in np.nonzero(foreground)]
        high = [int(a.max()) for a in np.nonzero(foreground)]
        spans, taps = [], []
        for axis in range(3):
            n_in = array.shape[axis + 1]
            lo, hi = max(low[axis] - 1, 0), min(high[axis] + 1, n_in - 1)
            found = _axis_taps(n_in, shape_out[axis], orders[axis], lo, hi)
            if found is None:
                break
            spans.append(found[0])
            taps.append(found[1:])
            low[axis], high[axis] = lo, hi
        else:
            box = array[(slice(None), *(slice(lo, hi + 1) for lo, hi in zip(low, high, strict=True)))]
            values = _interpolate_box(box, taps)
            cropped[tuple(spans)] = np.argmax(values, axis=0).astype(np.uint8)
    full = np.zeros(tuple(int(s) for s in properties["shape_before_cropping"]), np.uint8)
    full = insert_crop_into_image(full, cropped, properties["bbox_used_for_cropping"])
    return np.ascontiguousarray(np.asarray(full).transpose(plans_manager.transpose_backward))
