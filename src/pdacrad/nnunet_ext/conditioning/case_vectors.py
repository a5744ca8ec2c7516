"""The global vector travelling with each case that nnU-Net loads, for its final validation.

nnU-Net 2.8.1's ``perform_actual_validation`` loads each validation case with ``self.dataset_class(...).load_case``
and then predicts it with its sliding-window predictor, which calls ``network(patch)`` with one tensor: nothing
but the order of those two calls tells the network which case it sees. So:

* :func:`dataset_class_with_vectors` gives the trainer a dataset class (set once, in ``initialize``, where
  nnU-Net sets ``self.dataset_class``) whose ``load_case`` returns the case's vector in its properties
  (``properties['pdacrad_global_vector']``, shape (F,)) and reports the loaded case to a :class:`LoadOrderConditioner`;
* the conditioner is inert except inside :meth:`LoadOrderConditioner.conditioning`, which the trainer's
  ``perform_actual_validation`` wraps around nnU-Net's. There, each loaded case's vector is bound to the network
  (``RadiomicsUNet.conditioned_on``) until the next case is loaded, and two checks make a change of nnU-Net's
  order fail loudly instead of conditioning a case on another case's vector: loading a case before the previous
  one was predicted (prefetching) raises :class:`CaseOrderError`, and so does a forward pass before any case was
  loaded. ``tests/nnunet_ext`` run nnU-Net's real ``perform_actual_validation`` and check the vector each case
  got; the nnU-Net version is pinned.

Each DDP rank runs its own conditioner on its own share of the validation cases (nnU-Net shards the keys per rank
and predicts sequentially on each), so the binding is per process. The dataset class pickles as nnU-Net's own
class (data-augmentation workers receive plain datasets; the training batches carry their vectors from the data
loader, see :mod:`pdacrad.nnunet_ext.conditioning.data_loading`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from pdacrad.nnunet_ext.conditioning.global_vectors import GlobalVectors
from pdacrad.nnunet_ext.networks.radiomics_net import RadiomicsUNet

#: Key of a loaded case's vector in the properties ``load_case`` returns.
GLOBAL_VECTOR_PROPERTY = "pdacrad_global_vector"


class CaseOrderError(RuntimeError):
    """nnU-Net did not predict each loaded validation case before loading the next (or predicted before loading):
    the network cannot be conditioned by load order."""


class LoadOrderConditioner:
    """Binds a RadiomicsUNet to the vector of the case loaded last, inside :meth:`conditioning` only."""

    def __init__(self) -> None:
        self._network: RadiomicsUNet | None = None
        self._binding = contextlib.ExitStack()
        self._case: str | None = None
        self._forwards = 0

    def case_loaded(self, identifier: str, vector: np.ndarray) -> None:
        """Called by the dataset for every loaded case; binds ``vector`` when conditioning is active.

        Raises:
            CaseOrderError: the previous case was loaded but never predicted.
        """
        if self._network is None:
            return
        if self._case is not None and self._forwards == 0:
            raise CaseOrderError(
                f"nnU-Net loaded validation case {identifier!r} before predicting {self._case!r}: the global vector "
                "cannot follow the load order (has nnU-Net started prefetching? re-read perform_actual_validation)."
            )
        self._binding.close()
        self._binding.enter_context(self._network.conditioned_on(torch.from_numpy(vector)))
        self._case, self._forwards = identifier, 0

    def _count_forward(self, module: Any, args: Any) -> None:
        if self._case is None:
            raise CaseOrderError("the network was called before nnU-Net loaded any validation case")
        self._forwards += 1

    @contextlib.contextmanager
    def conditioning(self, network: RadiomicsUNet) -> Iterator[None]:
        """Within the block, each case loaded binds its vector to ``network`` until the next one; on exit the
        network is left unconditioned."""
        hook = network.register_forward_pre_hook(self._count_forward)
        self._network, self._case, self._forwards = network, None, 0
        try:
            yield
        finally:
            hook.remove()
            self._binding.close()
            self._network, self._case = None, None


class _CaseVectorDataset:
    """Mixin before an nnU-Net dataset class; the concrete class sets :attr:`case_vectors` and
    :attr:`conditioner`."""

    case_vectors: GlobalVectors
    conditioner: LoadOrderConditioner
    _nnunet_class: type

    def load_case(self, identifier: str) -> tuple[Any, Any, Any, dict]:
        """nnU-Net's ``(data, seg, seg_prev, properties)`` with the case's vector in ``properties``.

        Raises:
            InvalidInputError: the case has no global vector.
        """
        data, seg, seg_prev, properties = super().load_case(identifier)  # type: ignore[misc]
        vector = self.case_vectors.vector(identifier)
        properties[GLOBAL_VECTOR_PROPERTY] = vector
        self.conditioner.case_loaded(identifier, vector)
        return data, seg, seg_prev, properties

    def __reduce__(self) -> tuple:
        """Pickle as nnU-Net's own dataset class (a data-augmentation worker needs no conditioning)."""
        state: Any = self
        return (
            self._nnunet_class,
            (state.source_folder, list(state.identifiers), state.folder_with_segs_from_previous_stage),
        )


def dataset_class_with_vectors(
    nnunet_class: type, vectors: GlobalVectors, conditioner: LoadOrderConditioner
) -> type:
    """A subclass of nnU-Net's dataset class ``nnunet_class`` whose ``load_case`` carries each case's vector."""
    return type(
        f"{nnunet_class.__name__}WithGlobalVectors",
        (_CaseVectorDataset, nnunet_class),
        {"case_vectors": vectors, "conditioner": conditioner, "_nnunet_class": nnunet_class},
    )
