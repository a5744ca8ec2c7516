"""The cost plan of ``pdacrad-train experiment --plan``: every unit the config would run
(:func:`pdacrad_train.units.experiment_units`, the list the steps iterate) priced in GPU-hours, CPU-hours, wall
hours, disk and peak RAM for N cases, from the figures of a cost basis (:mod:`pdacrad_train.cost_basis`). Needs no
data and no work folder.

How each kind of unit is priced (N cases, V = N / n_folds validation cases per fold; sizes are PANORAMA's medians
from the basis, ``case.*``; patch and batch are the config's where it sets them, else the baseline plans'):

``convert``, ``oof``         N × CT voxels × a measured rate per CT voxel
``preprocess``               N × input voxels × channels × the measured resampling rate, over ``run.num_processes``;
                             disk N × output voxels × (4 B + 1 B) (CT as uncompressed float32, segmentation) + per
                             map channel its in-mask voxels × 4 B (constant outside the mask: compressed away)
``train`` (GPU)              epochs × (iterations + validation iterations × forward share) × s per iteration, where
                             s per iteration = a published epoch time / 250 × (batch × patch voxels) / the published
                             run's batch voxels (linear in voxels: an extrapolation), + nnU-Net's final validation
                             of V cases by sliding window (tiles at step 0.5 × 8 mirrored copies × a forward pass)
``global-features``          N × CT voxels × the measured rate (whole paper_global.yaml), over the Dask workers
``maps``                     N × map-mask voxels × selected features × the measured rate per voxel and feature
``select-checkpoint``        V × candidates (snapshots + final) × the same sliding window on the GPU, plus the
                             CPU's preprocessing (resampling) of every input channel and post-processing per case
                             and candidate (each candidate's predictor preprocesses again), plus each case's maps
                             once (computed by inference's code, not read from the training cache)
``predict``                  the same with one candidate
``evaluate``, ``select``     N (× variants) × a measured rate

Trainings also hold ``run.augmentation_workers`` CPU cores for nnU-Net's data augmentation while they run; the
plan states those core-hours apart instead of adding them to CPU-h.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pdacrad.model.radiomics_spec import ModelInputs
from pdacrad_train.config import StageConfig, TrainConfig
from pdacrad_train.cost_basis import CostBasis
from pdacrad_train.radiomics_config import RadiomicsConfig
from pdacrad_train.units import STEPS, Unit, experiment_units

#: nnU-Net 2.8.1's schedule where a trainer class sets none as constants (epochs, iterations, validation iterations).
NNUNET_SCHEDULE = (1000, 250, 50)
_GB = 1e9
_H = 3600.0


@dataclass(frozen=True)
class UnitCost:
    """The estimate of one unit (``kind``: :data:`~pdacrad_train.units.UnitKind`; ``device``: ``gpu`` when it uses
    one): GPU-hours, CPU-hours (CPU work only), wall hours on the config's machine, disk
    written (GB, 10⁹ bytes), peak RAM (GB), and the basis figures it used."""

    unit: str
    step: str
    kind: str
    device: str
    gpu_h: float
    cpu_h: float
    wall_h: float
    disk_gb: float
    peak_ram_gb: float
    figures: tuple[str, ...]
    ledger: bool = True


@dataclass(frozen=True)
class CostPlan:
    """The priced units of one config for ``cases`` cases on ``gpu`` (a GPU of the basis)."""

    config: str
    cases: int
    gpu: str
    rows: tuple[UnitCost, ...]
    basis: CostBasis
    augmentation_workers: int
    notes: tuple[str, ...] = ()

    def totals(self) -> dict[str, float]:
        """Sums of GPU-h, CPU-h, wall-h (one unit after another) and disk GB; the largest peak RAM; and the CPU
        core-hours trainings hold for nnU-Net's data augmentation (``held_core_h``)."""
        gpu_h = sum(r.gpu_h for r in self.rows)
        return {
            "gpu_h": gpu_h,
            "cpu_h": sum(r.cpu_h for r in self.rows),
            "wall_h": sum(r.wall_h for r in self.rows),
            "disk_gb": sum(r.disk_gb for r in self.rows),
            "peak_ram_gb": max((r.peak_ram_gb for r in self.rows), default=0.0),
            "held_core_h": sum(r.wall_h for r in self.rows if r.kind == "train") * self.augmentation_workers,
        }

    def by_step(self) -> dict[str, dict[str, float]]:
        """GPU-h, CPU-h, wall-h and disk GB summed per step (in run order), peak RAM the largest."""
        steps: dict[str, dict[str, float]] = {}
        for r in self.rows:
            s = steps.setdefault(
                r.step, dict.fromkeys(("gpu_h", "cpu_h", "wall_h", "disk_gb", "peak_ram_gb"), 0.0)
            )
            for column in ("gpu_h", "cpu_h", "wall_h", "disk_gb"):
                s[column] += getattr(r, column)
            s["peak_ram_gb"] = max(s["peak_ram_gb"], r.peak_ram_gb)
        return steps

    def used_figures(self) -> list[str]:
        """Every basis figure some row used, in basis order."""
        used = {f for r in self.rows for f in r.figures}
        return [k for k in self.basis.figures if k in used]


def trainer_schedule(name: str) -> tuple[int, int, int, int]:
    """Epochs, iterations per epoch, validation iterations per epoch and snapshot interval (``picai_every``, 0 for
    none) of the trainer class ``name``, from its class constants (nnU-Net's defaults where it has none)."""
    from pdacrad.nnunet_ext import find_trainer

    trainer = find_trainer(name)
    epochs, iterations, val_iterations = (
        int(getattr(trainer, attr, default))
        for attr, default in zip(("EPOCHS", "ITERATIONS", "VAL_ITERATIONS"), NNUNET_SCHEDULE, strict=True)
    )
    return epochs, iterations, val_iterations, int(getattr(trainer, "picai_every", 0))


def tiles(image: Sequence[int], patch: Sequence[int], step: float) -> int:
    """Sliding-window tiles nnU-Net runs over ``image`` with ``patch`` at ``step`` × patch (both (z, y, x))."""
    count = 1
    for size, p in zip(image, patch, strict=True):
        count *= 1 if size <= p else math.ceil((size - p) / (p * step)) + 1
    return count


@dataclass
class _Pricer:
    """Prices units of one config; ``used`` collects the figures of the unit being priced."""

    config: TrainConfig
    rcfg: RadiomicsConfig
    basis: CostBasis
    gpu: str
    cases: int
    used: list[str] = field(default_factory=list)

    def n(self, key: str) -> float:
        self.used.append(key)
        return self.basis.number(key)

    def shape(self, key: str) -> tuple[int, ...]:
        self.used.append(key)
        return self.basis.shape(key)

    @property
    def workers(self) -> int:
        """Processes of the CPU steps: the radiomics config's Dask workers, else ``run.num_processes``."""
        return max(1, self.rcfg.n_workers or self.config.run.num_processes)

    @property
    def val_cases(self) -> float:
        return self.cases / self.config.splits.n_folds

    def row(
        self, unit: Unit, gpu_s: float, cpu_s: float, wall_s: float, disk_b: float, ram_b: float
    ) -> UnitCost:
        figures = tuple(dict.fromkeys(self.used))
        self.used = []
        device = "gpu" if gpu_s > 0 else "cpu"
        return UnitCost(
            unit.name, unit.step, unit.kind, device, gpu_s / _H, cpu_s / _H, wall_s / _H, disk_b / _GB, ram_b / _GB, figures,
            unit.ledger,
        )  # fmt: skip

    # --- geometry of a unit's nnU-Net dataset
    def _is_stage1(self, stage: StageConfig) -> bool:
        return stage.dataset_id == self.config.stage1.dataset_id

    def _channels(self, unit: Unit) -> int:
        """Input channels: the CT, plus one per selected feature (an upper bound: shape features have no map)."""
        if (
            unit.stage is None
            or self._is_stage1(unit.stage)
            or unit.stage.dataset_id == self.config.stage2.dataset_id
        ):
            return 1
        return 1 + self.rcfg.selection.n_features

    def _plan(self, stage: StageConfig) -> tuple[tuple[int, ...], int, tuple[int, ...]]:
        """Patch (z, y, x), batch and the median image it runs on (z, y, x) of ``stage``'s dataset."""
        key = "stage1" if self._is_stage1(stage) else "stage2"
        patch = stage.patch_size_zyx or self.shape(f"plans.{key}.patch_zyx")
        batch = stage.batch_size or int(self.n(f"plans.{key}.batch_size"))
        image = self.shape("case.stage1_shape_zyx" if key == "stage1" else "case.roi_shape_zyx")
        return tuple(patch), batch, image

    def _iteration_s(self, stage: StageConfig) -> float:
        """GPU seconds of one training iteration of ``stage`` (published epoch time scaled by voxels per batch)."""
        patch, batch, _ = self._plan(stage)
        epoch_s = self.n(f"gpu.{self.gpu}.epoch_s")
        return epoch_s / 250 * batch * math.prod(patch) / self.n("gpu.reference_batch_voxels")

    def _window_gpu_s(self, stage: StageConfig) -> float:
        """GPU seconds to predict one median case of ``stage`` by nnU-Net's sliding window with mirroring."""
        patch, batch, image = self._plan(stage)
        forward = self._iteration_s(stage) / batch * self.n("gpu.forward_share")
        count = tiles(image, patch, self.n("nnunet.tile_step"))
        return count * self.n("nnunet.mirror_copies") * forward

    def _input_voxels(self, stage: StageConfig) -> float:
        """Voxels nnU-Net reads per case of ``stage``: the whole CT (Stage 1) or the ROI crop."""
        return (
            math.prod(self.shape("case.roi_shape_zyx"))
            if not self._is_stage1(stage)
            else self.n("case.ct_voxels")
        )

    def _params(self, stage: StageConfig) -> float:
        return self.n("plans.stage1.parameters" if self._is_stage1(stage) else "plans.stage2.parameters")

    # --- one method per unit kind
    def price(self, unit: Unit, variants: Sequence[str]) -> UnitCost:
        method = getattr(self, "_" + unit.kind.replace("-", "_"))
        gpu_s, cpu_s, wall_s, disk_b, ram_b = method(unit, variants)
        return self.row(unit, gpu_s, cpu_s, wall_s, disk_b, ram_b)

    def _convert(self, unit: Unit, variants: Sequence[str]) -> tuple[float, ...]:
        ct = self.n("case.ct_voxels")
        cpu = self.cases * ct * self.n("cpu.convert_s_per_ct_voxel")
        roi = math.prod(self.shape("case.roi_shape_zyx"))
        per_case = roi * self.n("case.ct_gz_bytes_per_voxel") + (ct + roi) * self.n(
            "disk.label_gz_bytes_per_voxel"
        )
        return 0.0, cpu, cpu, self.cases * per_case, ct * 4 * self.n("ram.preprocess_ct_copies")

    def _splits(self, unit: Unit, variants: Sequence[str]) -> tuple[float, ...]:
        return 0.0, 0.0, 0.0, 0.0, 0.0  # one JSON file: negligible, not measured

    def _preprocess(self, unit: Unit, variants: Sequence[str]) -> tuple[float, ...]:
        assert unit.stage is not None
        channels, voxels = self._channels(unit), self._input_voxels(unit.stage)
        out = math.prod(self._plan(unit.stage)[2])
        cpu = self.cases * voxels * channels * self.n("cpu.resample_s_per_voxel")
        per_channel = self.n("disk.preprocessed_bytes_per_voxel_channel")
        disk = self.cases * out * (per_channel + 1)  # the CT channel and the segmentation
        if channels > 1:  # map channels: constant outside the map mask, which blosc2 compresses away
            in_mask = self.n("case.map_mask_voxels") * self.n("disk.map_channel_voxels_per_mask_voxel")
            disk += self.cases * (channels - 1) * in_mask * per_channel
        processes = max(1, self.config.run.num_processes)
        ram = processes * voxels * channels * 4 * self.n("ram.preprocess_ct_copies")
        return 0.0, cpu, cpu / processes, disk, ram

    def _train(self, unit: Unit, variants: Sequence[str]) -> tuple[float, ...]:
        assert unit.stage is not None
        epochs, iterations, val_iterations, every = trainer_schedule(unit.stage.trainer)
        step_s = self._iteration_s(unit.stage)
        gpu = epochs * (iterations + val_iterations * self.n("gpu.forward_share")) * step_s
        gpu += self.val_cases * self._window_gpu_s(unit.stage)
        # nnU-Net exports each validation case back to its input grid on the CPU
        cpu = self.val_cases * self._input_voxels(unit.stage) * self.n("cpu.resample_s_per_voxel")
        params = self._params(unit.stage)
        snapshots = max(0, epochs // every - 1) if every else 0
        disk = (
            2 * params * self.n("disk.checkpoint_bytes_per_parameter")
        )  # checkpoint_final + checkpoint_best
        disk += snapshots * params * self.n("disk.snapshot_bytes_per_parameter")
        disk += self.val_cases * self._input_voxels(unit.stage) * self.n("disk.label_gz_bytes_per_voxel")
        wall = gpu / max(1, self.config.run.num_gpus)
        return gpu, cpu, wall, disk, self.n("nnunet.host_ram_bytes")

    def _oof(self, unit: Unit, variants: Sequence[str]) -> tuple[float, ...]:
        ct = self.n("case.ct_voxels")
        cpu = self.cases * ct * self.n("cpu.oof_s_per_ct_voxel")
        return 0.0, cpu, cpu, self.cases * ct * self.n("disk.label_gz_bytes_per_voxel"), 2 * ct

    def _global_features(self, unit: Unit, variants: Sequence[str]) -> tuple[float, ...]:
        ct = self.n("case.ct_voxels")
        cpu = self.cases * ct * self.n("cpu.global_features_s_per_ct_voxel")
        ram = self.workers * ct * 8 * self.n("ram.global_features_ct_copies")
        return 0.0, cpu, cpu / self.workers, 0.0, ram

    def _select(self, unit: Unit, variants: Sequence[str]) -> tuple[float, ...]:
        cpu = self.cases * self.n("cpu.select_s_per_case")
        return 0.0, cpu, cpu, 0.0, 0.0

    def _maps(self, unit: Unit, variants: Sequence[str]) -> tuple[float, ...]:
        # every selected feature a map, none shared with another selection's cache: an upper bound
        feature_voxels = self.cases * self.n("case.map_mask_voxels") * self.rcfg.selection.n_features
        cpu = feature_voxels * self.n("cpu.maps_s_per_mask_voxel_feature")
        disk = feature_voxels * self.n("disk.map_bytes_per_mask_voxel")
        return 0.0, cpu, cpu / self.workers, disk, self.workers * self.n("ram.maps_worker_bytes")

    def _predict(self, unit: Unit, variants: Sequence[str], candidates: int = 1) -> tuple[float, ...]:
        assert unit.stage is not None and unit.variant is not None
        voxels, channels = self._input_voxels(unit.stage), self._channels(unit)
        gpu = candidates * self.val_cases * self._window_gpu_s(unit.stage)
        per_case = voxels * channels * self.n("cpu.resample_s_per_voxel") + self.n(
            "cpu.postprocess_s_per_case"
        )
        cpu = candidates * self.val_cases * per_case
        # a case's radiomics inputs are made once for every candidate (cv_prediction): its maps by inference's own
        # code; its global vector comes from the global-features cache (same params and OOF mask), so costs nothing
        if ModelInputs.of_variant(unit.variant).maps:
            per_feature = self.n("case.map_mask_voxels") * self.n("cpu.maps_s_per_mask_voxel_feature")
            cpu += self.val_cases * self.rcfg.selection.n_features * per_feature
        disk = candidates * self.val_cases * voxels * self.n("disk.label_gz_bytes_per_voxel")
        return gpu, cpu, max(gpu, cpu), disk, self.n("cpu.predict_peak_rss_bytes")

    def _select_checkpoint(self, unit: Unit, variants: Sequence[str]) -> tuple[float, ...]:
        assert unit.stage is not None
        epochs, _, _, every = trainer_schedule(unit.stage.trainer)
        candidates = max(1, epochs // every) if every else 1  # snapshots + the final checkpoint
        return self._predict(unit, variants, candidates)

    def _evaluate(self, unit: Unit, variants: Sequence[str]) -> tuple[float, ...]:
        cpu = self.cases * len(variants) * self.n("cpu.evaluate_s_per_case_variant")
        return 0.0, cpu, cpu, 0.0, 0.0


def plan_experiment(
    config: TrainConfig,
    rcfg: RadiomicsConfig,
    basis: CostBasis,
    cases: int,
    gpu: str | None = None,
    variants: Sequence[str] | None = None,
    folds: Sequence[int] | None = None,
    steps: Iterable[str] = STEPS,
) -> CostPlan:
    """Price every unit ``run_experiment(config, …, variants, folds, steps)`` would run for ``cases`` cases on
    ``gpu`` (a GPU of the basis; default its first). Reads no data and no work folder."""
    from pdacrad.errors import InvalidInputError

    gpus = basis.gpus()
    gpu = gpu or (gpus[0] if gpus else "")
    if gpu not in gpus:
        raise InvalidInputError(
            f"--gpu {gpu!r}: the basis has epoch times for {', '.join(gpus) or 'no GPU'}."
        )
    if cases < 0:
        raise InvalidInputError(f"--cases must be ≥ 0, got {cases}.")
    variants = tuple(variants or config.experiment.variants)
    folds = tuple(config.folds if folds is None else folds)
    steps = tuple(steps)
    units = experiment_units(config, rcfg.selection.mode, variants, folds, steps)
    pricer = _Pricer(config, rcfg, basis, gpu, cases)
    rows = tuple(pricer.price(u, variants) for u in units)
    return CostPlan(
        config.name, cases, gpu, rows, basis, config.run.augmentation_workers, _notes(rcfg, units)
    )


def _notes(rcfg: RadiomicsConfig, units: Sequence[Unit]) -> tuple[str, ...]:
    notes: list[str] = []
    if rcfg.selection.mode == "per-fold" and any(u.kind == "maps" for u in units):
        notes.append(
            "maps: per-fold selection builds one map dataset per fold; priced as if no fold shared a feature with "
            "another (the map cache computes a shared feature once), so an upper bound."
        )
    return tuple(notes)
