"""The engine's one backend seam: which counting code runs, chosen once per call, and how big a voxel batch is.

A feature family is its formulas (one registered function per feature) plus a counting step per backend plus the
cost of a batch. The backend is chosen once, by :meth:`Backend.choose`, and handed to every family (in
``prepare(..., backend=)`` and on :attr:`~pdacrad.radiomics.kernel.KernelBatch.backend`):

- **compiled** (CPU only, the CPU default): numba kernels count each kernel's tables in cache, GIL released, one
  Python worker thread per core;
- **torch** (CUDA, the CUDA default; or CPU tensors when ``compiled=False``, which is how the tests exercise the
  CUDA path's logic without a GPU): counting by torch tensor ops on the device.

Both feed the same formulas and give the same counts bit for bit (tests per family). A family also declares what
one voxel of a batch costs on a backend (:class:`BatchCost`, from the same route decision its ``compute`` takes);
:meth:`Backend.batch_size` turns that into voxels per batch, so dispatch and batch sizing cannot disagree.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from pdacrad.errors import InvalidInputError

if TYPE_CHECKING:
    from pdacrad.radiomics.kernel import KernelBatch

DEFAULT_MEMORY_BUDGET_MB = 1024
"""Memory one voxel batch may use for its kernels and tables (MiB); bounds peak memory at any kernel radius."""

COMPILED_BATCH = 2048
"""Most voxels per batch for the compiled CPU kernels, whose working set is a few bytes per kernel cell: at this
size the per-batch overhead (gathering, dispatch) is a few % of a batch, and larger batches only hold more gathered
levels in memory (measured, paper set at kernelRadius 5: GLCM Correlation 3.0 → 1.0 CPU-s against cache-sized
batches of 32 voxels; GLSZM/GLRLM 5-15 % faster than ~500-voxel batches)."""

CACHE_BATCH_BYTES = 2 * 2**20
"""Target size (bytes) of one batch's dense per-voxel matrices on CPU (NGTDM's pair features): elementwise passes
over them are memory-bound, and batches whose matrices stay in cache ran 2× faster per voxel (measured)."""


@dataclass(frozen=True)
class BatchCost:
    """What one voxel of a batch costs a family on a backend: ``bytes_per_voxel`` of working memory, and at most
    ``max_voxels`` per batch (``None``: only the memory budget bounds it)."""

    bytes_per_voxel: int
    max_voxels: int | None = None


def kernel_cost(n_cells: int, n_levels: int) -> int:
    """Bytes per voxel every family pays: gathered levels, values and indices, and ``(G + 1)``-wide histograms per
    cell for the torch counting."""
    return 8 * n_cells * 4 + 8 * n_cells * 16 + 8 * (n_levels + 1) * n_cells


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Backend:
    """Where and how a call counts.

    Attributes:
        device: the torch device tensors live on.
        compiled: numba counting on CPU (else torch counting on ``device``).
        workers: Python threads running voxel batches in parallel (each with torch single-threaded: measured
            1.8× faster than torch's own intra-op threads on these small per-voxel tables); 1 on CUDA.
        budget_mb: memory one batch may use (MiB).
        sliding: the compiled counting slides a kernel's tables from the previous target voxel's along a scan line
            (cost per voxel ∝ r² instead of r³; the same integers); ``False`` counts every kernel afresh (the
            reference the tests and the benchmark compare with).
    """

    device: torch.device
    compiled: bool
    workers: int = 1
    budget_mb: int = DEFAULT_MEMORY_BUDGET_MB
    sliding: bool = True

    @classmethod
    def choose(
        cls, device: str | torch.device = "cpu", compiled: bool | None = None, workers: int | None = None
    ) -> Backend:
        """The backend for ``device``: compiled on CPU unless ``compiled=False``; torch on CUDA (``compiled=True``
        there is an :class:`InvalidInputError`). ``workers`` default: one per core (at most 8) on CPU, 1 on CUDA."""
        dev = torch.device(device)
        use_compiled = dev.type == "cpu" if compiled is None else bool(compiled)
        if use_compiled and dev.type != "cpu":
            raise InvalidInputError(f"the compiled backend runs on the CPU only, not on {dev}")
        n = workers if workers is not None else (max(1, min(_cores(), 8)) if dev.type == "cpu" else 1)
        return cls(device=dev, compiled=use_compiled, workers=max(1, int(n)))

    @property
    def name(self) -> str:
        """``compiled-cpu`` or ``torch-<device type>``."""
        return "compiled-cpu" if self.compiled else f"torch-{self.device.type}"

    def batch_size(self, cost: BatchCost, n_voxels: int) -> int:
        """Voxels per batch: within the memory budget and the family's cap, split so that every worker has work
        even on a small ROI."""
        size = max(1, int(self.budget_mb * 2**20 // max(1, cost.bytes_per_voxel)))
        if cost.max_voxels is not None:
            size = min(size, cost.max_voxels)
        size = max(1, size // self.workers)
        return max(1, min(size, math.ceil(max(1, n_voxels) / self.workers)))


def backend_of(batch: KernelBatch) -> Backend:
    """The batch's backend: the one it carries, else :meth:`Backend.choose` for its device with one worker."""
    if batch.backend is not None:
        return batch.backend
    return Backend.choose(batch.device, workers=1)
