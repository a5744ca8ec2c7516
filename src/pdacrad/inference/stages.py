"""The two model stages as functions of SimpleITK images: Stage 1 (pancreas on the whole CT) and Stage 2
(multi-structure softmax on the ROI crop)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
import torch

from pdacrad.errors import ResourceError
from pdacrad.inference.predictor import StageModel


def _spacing_zyx(image: sitk.Image) -> tuple[float, float, float]:
    sx, sy, sz = image.GetSpacing()
    return (float(sz), float(sy), float(sx))


def _as_float32_zyx(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image).astype(np.float32, copy=False)


def run_stage1(model: StageModel, ct: sitk.Image) -> sitk.Image:
    """Binary pancreas (uint8 0/1, every foreground label of the Stage-1 model) on the grid of ``ct``.

    The full-resolution CT goes in as-is and nnU-Net preprocesses it as at training (crop, normalisation,
    resampling to the plan spacing); the prediction comes back to the CT's grid only around the predicted
    pancreas (:meth:`StageModel.predict_labels`: the labels of nnU-Net's export, without resampling every class's
    logits over the whole CT).
    """
    labels = model.predict_labels(_as_float32_zyx(ct)[None], _spacing_zyx(ct))
    mask = sitk.GetImageFromArray((labels > 0).astype(np.uint8))
    mask.CopyInformation(ct)
    return mask


@dataclass(frozen=True)
class Stage2Inputs:
    """Everything Stage 2 sees for one case, on the ROI grid.

    Attributes:
        ct: the CT cropped to the ROI (native spacing; its geometry places the output in the full image).
        extra_channels: additional input channels on the same grid, numpy (z, y, x), in the order of the model's
            ``dataset.json`` channels 1, 2, … (e.g. radiomics parametric maps); empty for the plain model.
        global_vector: optional per-case conditioning vector (e.g. z-scored global radiomics features), passed to
            the network through its ``conditioned_on`` context manager.
    """

    ct: sitk.Image
    extra_channels: tuple[np.ndarray, ...] = ()
    global_vector: np.ndarray | None = None

    def as_array(self) -> np.ndarray:
        """The stacked float32 input ``(1 + len(extra_channels), z, y, x)``.

        Raises:
            ValueError: an extra channel does not have the CT crop's shape.
        """
        ct = _as_float32_zyx(self.ct)
        for i, channel in enumerate(self.extra_channels, start=1):
            if channel.shape != ct.shape:
                raise ValueError(f"Stage-2 channel {i} has shape {channel.shape}, the CT crop {ct.shape}")
        return np.stack([ct, *(np.asarray(c, dtype=np.float32) for c in self.extra_channels)])


@contextlib.contextmanager
def _conditioning(model: StageModel, global_vector: np.ndarray | None) -> Iterator[None]:
    if global_vector is None:
        yield
        return
    conditioned_on = getattr(model.network, "conditioned_on", None)
    if conditioned_on is None:
        raise ResourceError(
            f"{model.info.folder} network ({type(model.network).__name__}) takes no global vector "
            "(no conditioned_on); check resources/radiomics.json against the Stage-2 model"
        )
    vector = torch.as_tensor(np.asarray(global_vector, dtype=np.float32))[None]
    with conditioned_on(vector):
        yield


@dataclass(frozen=True)
class Stage2Output:
    """Stage-2 result on the ROI grid, numpy (z, y, x): ``labels`` (uint8 argmax) and ``tumour_probability``
    (float32 softmax of the tumour class)."""

    labels: np.ndarray
    tumour_probability: np.ndarray


def run_stage2(model: StageModel, inputs: Stage2Inputs, tumour_label: int) -> Stage2Output:
    """Stage-2 softmax on the ROI; returns the argmax labels and the tumour class probability.

    Raises:
        ResourceError: the model has no output channel for ``tumour_label``.
    """
    with _conditioning(model, inputs.global_vector):
        prediction = model.predict(inputs.as_array(), _spacing_zyx(inputs.ct), probabilities=True)
    assert prediction.probabilities is not None
    if not 0 <= tumour_label < prediction.probabilities.shape[0]:
        raise ResourceError(
            f"{model.info.folder} predicts {prediction.probabilities.shape[0]} classes; no tumour label {tumour_label}"
        )
    return Stage2Output(prediction.labels, prediction.probabilities[tumour_label])
