"""nnU-Net's training data loader with the two things our trainers add; built by
:meth:`pdacrad.nnunet_ext.variants.schedules.PdacradTrainer.get_dataloaders` (no module name of nnU-Net is rebound).

* **Lesion-focused patches**: a patch forced onto foreground is centred on the lesion label with probability
  ``lesion_probability`` when the case has lesion voxels. nnU-Net picks the class of a foreground patch uniformly
  among the classes present; with six structures a small lesion is then the centre of only a few percent of the
  patches, too few for a schedule of a few hundred iterations to learn it.
* **The global vector in the batch**: with ``global_vectors`` given, every batch carries
  ``batch['global_vector']``, a ``(B, F)`` float32 tensor whose row ``i`` is the vector of ``batch['keys'][i]``
  (nnU-Net's keys are the case ids in batch order). It is built after nnU-Net's own sampling and augmentation
  (spatial and intensity augmentation do not change a segment-level feature vector), in whatever process runs
  the loader (nnU-Net's augmentation workers included), so the vector travels with its patch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from nnunetv2.training.dataloading.data_loader import nnUNetDataLoader

from pdacrad.nnunet_ext.conditioning.global_vectors import GlobalVectors

#: Batch key of the ``(B, F)`` global vectors.
GLOBAL_VECTOR_KEY = "global_vector"


class PdacradDataLoader(nnUNetDataLoader):
    """``nnUNetDataLoader`` (same arguments) plus ``lesion_label``, ``lesion_probability`` (0: nnU-Net's uniform
    choice of class) and ``global_vectors`` (None: no ``'global_vector'`` in the batch)."""

    def __init__(
        self,
        *args: Any,
        lesion_label: int = 1,
        lesion_probability: float = 0.0,
        global_vectors: GlobalVectors | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.lesion_label = lesion_label
        self.lesion_probability = lesion_probability
        self.global_vectors = global_vectors

    def get_bbox(
        self,
        data_shape: np.ndarray,
        force_fg: bool,
        class_locations: dict | None,
        overwrite_class: Any = None,
        verbose: bool = False,
    ) -> Any:
        """nnU-Net's patch box, centred on the lesion class with probability :attr:`lesion_probability` when the
        patch is forced onto foreground and the case has lesion voxels."""
        if (
            force_fg
            and overwrite_class is None
            and class_locations
            and len(class_locations.get(self.lesion_label, ())) > 0
            and np.random.uniform() < self.lesion_probability
        ):
            overwrite_class = self.lesion_label
        return super().get_bbox(data_shape, force_fg, class_locations, overwrite_class, verbose)

    def generate_train_batch(self) -> dict:
        """nnU-Net's batch (``data``, ``target``, ``keys``), plus ``global_vector`` (B, F) when vectors are set."""
        batch = super().generate_train_batch()
        if self.global_vectors is not None:
            batch[GLOBAL_VECTOR_KEY] = self.global_vectors.matrix([str(k) for k in batch["keys"]])
        return batch
