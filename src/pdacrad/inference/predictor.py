"""One nnU-Net v2 trained-model folder, loaded once onto a device and fed many cases in-process.

We build the network ourselves (:func:`pdacrad.nnunet_ext.build_network`: our variants without importing any
training code, nnU-Net's own trainers through nnU-Net's look-up) and call ``nnUNetPredictor.manual_initialization``, because
nnU-Net's own ``initialize_from_trained_model_folder`` only finds trainers inside its package. Prediction goes
through ``predict_single_npy_array``: sequential, no worker processes (they die on a small ``/dev/shm`` in
containers).
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pdacrad.errors import ResourceError
from pdacrad.inference.resample import labels_on_input_grid
from pdacrad.io.json_files import read_json_object
from pdacrad.model.checks import fold_folders
from pdacrad.nnunet_ext import build_network

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInfo:
    """What was loaded from a model folder.

    Attributes:
        folder: the nnU-Net trained-model folder.
        trainer_name: trainer class name stored in the checkpoint.
        configuration: nnU-Net configuration name (e.g. ``3d_fullres``) stored in the checkpoint.
        folds: fold folder names whose checkpoints are ensembled (averaged logits).
        num_input_channels: image channels the network expects (CT + any extra maps).
        labels: label name → value from ``dataset.json``.
    """

    folder: Path
    trainer_name: str
    configuration: str
    folds: tuple[str, ...]
    num_input_channels: int
    labels: dict[str, int]


@dataclass(frozen=True)
class StagePrediction:
    """nnU-Net output on the input grid, numpy axis order (z, y, x).

    ``labels``: uint8 argmax label map. ``probabilities``: float32 softmax ``(classes, z, y, x)``, or ``None`` when
    not requested.
    """

    labels: np.ndarray
    probabilities: np.ndarray | None


def _checkpoints(
    folder: Path, checkpoint_names: tuple[str, ...], folds: Sequence[str] | None = None
) -> list[Path]:
    """One checkpoint per fold folder (first name found), numbered folds sorted; ``fold_all`` only if alone;
    with ``folds``, exactly those folds, each of which must have a checkpoint."""
    selected = fold_folders(folder, folds)
    found = []
    for fold in selected:
        for name in checkpoint_names:
            if (fold / name).is_file():
                found.append(fold / name)
                break
        else:
            if folds is not None:
                raise ResourceError(f"no {' or '.join(checkpoint_names)} in {fold}")
    if folds is not None:
        return found
    numbered = [c for c in found if c.parent.name != "fold_all"]
    if not found:
        raise ResourceError(f"no fold_*/{' or '.join(checkpoint_names)} in model folder {folder}")
    return numbered or found


def _load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        # nnU-Net checkpoints hold plain Python objects besides tensors; they come from our own verified package
        return torch.load(path, map_location="cpu", weights_only=False)  # type: ignore[no-any-return]
    except Exception as exc:  # torch raises many types for a damaged zip/pickle
        raise ResourceError(f"cannot load checkpoint {path}: {exc}") from exc


class StageModel:
    """An nnU-Net predictor for one trained-model folder; load once with :meth:`load`, then call :meth:`predict`
    for each case."""

    def __init__(self, predictor: Any, info: ModelInfo) -> None:
        self._predictor = predictor
        self.info = info

    @property
    def network(self) -> torch.nn.Module:
        """The network module (e.g. to condition the radiomics Stage 2 on a global vector)."""
        return self._predictor.network  # type: ignore[no-any-return]

    @classmethod
    def load(
        cls,
        folder: Path,
        device: torch.device,
        *,
        checkpoint_names: tuple[str, ...] = ("checkpoint_final.pth", "checkpoint_best.pth"),
        tile_step_size: float = 0.5,
        use_mirroring: bool = True,
        show_progress: bool = True,
        folds: Sequence[str] | None = None,
        batch_mirrors: bool | None = None,
    ) -> StageModel:
        """Read ``dataset.json``, ``plans.json`` and every fold's checkpoint (or only ``folds``, e.g.
        ``("fold_2",)``), build the network, and initialise an ``nnUNetPredictor`` on ``device``.

        ``batch_mirrors``: run the mirrored copies of a tile as one batch (``None``: on CPU only, where one small
        patch per call leaves the cores idle; same result, ~3× fewer CPU seconds per tile here).

        Raises:
            ResourceError: a file is missing/unreadable or the checkpoint does not fit the plans.
        """
        from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
        from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

        folder = Path(folder)
        dataset_json = read_json_object(folder / "dataset.json")
        plans_manager = PlansManager(read_json_object(folder / "plans.json"))
        paths = _checkpoints(folder, checkpoint_names, folds)
        checkpoints = [_load_checkpoint(p) for p in paths]
        first = checkpoints[0]
        try:
            trainer_name = str(first["trainer_name"])
            configuration = str(first["init_args"]["configuration"])
            mirror_axes = first.get("inference_allowed_mirroring_axes")
            configuration_manager = plans_manager.get_configuration(configuration)
        except (KeyError, TypeError, RuntimeError) as exc:
            raise ResourceError(f"checkpoint {paths[0]} or its plans.json lacks {exc}") from exc
        num_inputs = determine_num_input_channels(plans_manager, configuration_manager, dataset_json)
        num_outputs = plans_manager.get_label_manager(dataset_json).num_segmentation_heads
        # the fold folder carries that fold's radiomics settings (per-fold feature lists)
        network = build_network(
            trainer_name,
            plans_manager,
            configuration_manager,
            num_inputs,
            num_outputs,
            fold_folder=paths[0].parent,
        )
        parameters = [c["network_weights"] for c in checkpoints]
        try:
            network.load_state_dict(parameters[0])
        except RuntimeError as exc:
            raise ResourceError(
                f"weights in {paths[0]} do not fit the network of {folder}/plans.json: {exc}"
            ) from exc
        # nnU-Net prints to stdout (e.g. a notice on CPU); route it to the debug log instead
        with contextlib.redirect_stdout(io.StringIO()) as captured:
            batched = device.type == "cpu" if batch_mirrors is None else batch_mirrors
            predictor = _predictor_class(batched)(
                tile_step_size=tile_step_size,
                use_gaussian=True,
                use_mirroring=use_mirroring,
                perform_everything_on_device=device.type == "cuda",
                device=device,
                verbose=False,
                verbose_preprocessing=False,
                allow_tqdm=show_progress,
            )
            predictor.manual_initialization(
                network,
                plans_manager,
                configuration_manager,
                parameters,
                dataset_json,
                trainer_name,
                tuple(mirror_axes) if mirror_axes is not None else None,
            )
        if captured.getvalue().strip():
            logger.debug("nnU-Net: %s", captured.getvalue().strip())
        info = ModelInfo(
            folder=folder,
            trainer_name=trainer_name,
            configuration=configuration,
            folds=tuple(p.parent.name for p in paths),
            num_input_channels=int(num_inputs),
            labels={str(k): int(v) for k, v in dataset_json.get("labels", {}).items() if isinstance(v, int)},
        )
        logger.info(
            "loaded %s: %s/%s, folds %s, %d input channel(s)",
            folder,
            trainer_name,
            configuration,
            ",".join(info.folds),
            info.num_input_channels,
        )
        return cls(predictor, info)

    def predict_labels(self, image_czyx: np.ndarray, spacing_zyx: tuple[float, float, float]) -> np.ndarray:
        """Label map (uint8, (z, y, x) on the input grid) of one case, like :meth:`predict` without
        probabilities, but brought back from the plan grid only around the predicted foreground
        (:func:`pdacrad.inference.resample.labels_on_input_grid`: the same labels, a fraction of the cost).

        Raises:
            ValueError: wrong number of channels.
        """
        self._check_input(image_czyx)
        predictor = self._predictor
        preprocessor = predictor.configuration_manager.preprocessor_class(verbose=False)
        data, _, properties = preprocessor.run_case_npy(
            np.ascontiguousarray(image_czyx, dtype=np.float32),
            None,
            {"spacing": [float(s) for s in spacing_zyx]},
            predictor.plans_manager,
            predictor.configuration_manager,
            predictor.dataset_json,
        )
        logits = predictor.predict_logits_from_preprocessed_data(torch.from_numpy(data)).cpu()
        return labels_on_input_grid(
            logits,
            predictor.plans_manager,
            predictor.configuration_manager,
            predictor.label_manager,
            properties,
        )

    def _check_input(self, image_czyx: np.ndarray) -> None:
        if image_czyx.ndim != 4 or image_czyx.shape[0] != self.info.num_input_channels:
            raise ValueError(
                f"{self.info.folder.name} expects ({self.info.num_input_channels}, z, y, x), got {image_czyx.shape}"
            )

    def predict(
        self, image_czyx: np.ndarray, spacing_zyx: tuple[float, float, float], *, probabilities: bool
    ) -> StagePrediction:
        """Segment one case.

        Args:
            image_czyx: float32 array ``(channels, z, y, x)`` as SimpleITK reads it (nnU-Net's SimpleITKIO order).
            spacing_zyx: voxel spacing in mm, (z, y, x) order.
            probabilities: also return the softmax (costs one float32 volume per class).

        Raises:
            ValueError: wrong number of channels.
        """
        self._check_input(image_czyx)
        props = {"spacing": [float(s) for s in spacing_zyx]}
        out = self._predictor.predict_single_npy_array(
            np.ascontiguousarray(image_czyx, dtype=np.float32), props, None, None, probabilities
        )
        if probabilities:
            seg, probs = out
            return StagePrediction(np.asarray(seg, dtype=np.uint8), np.asarray(probs, dtype=np.float32))
        return StagePrediction(np.asarray(out, dtype=np.uint8), None)


@functools.cache
def _predictor_class(batch_mirrors: bool) -> type:
    """``nnUNetPredictor``, or a subclass that overrides its one mirroring hook to run a tile and its mirrored
    copies as one batch (nnU-Net calls the network once per copy). The sum is taken in nnU-Net's order, so the
    logits equal nnU-Net's up to float rounding of the batched convolutions."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    if not batch_mirrors:
        return nnUNetPredictor

    class BatchedMirrorPredictor(nnUNetPredictor):  # type: ignore[misc]
        @torch.inference_mode()
        def _internal_maybe_mirror_and_predict(self, x: torch.Tensor) -> torch.Tensor:
            mirror_axes = self.allowed_mirroring_axes if self.use_mirroring else None
            if not mirror_axes:
                return self.network(x)  # type: ignore[no-any-return]
            axes = [m + 2 for m in mirror_axes]
            combinations = [c for i in range(len(axes)) for c in itertools.combinations(axes, i + 1)]
            batch = torch.cat([x, *(torch.flip(x, c) for c in combinations)])
            out = self.network(batch)
            n = x.shape[0]
            prediction = out[:n]
            for k, c in enumerate(combinations, start=1):
                prediction += torch.flip(out[k * n : (k + 1) * n], c)
            prediction /= len(combinations) + 1
            return prediction  # type: ignore[no-any-return]

    return BatchedMirrorPredictor
