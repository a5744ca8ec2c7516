"""``radiomics``: the experiment's radiomics inputs of Stage 2, in three steps that are also commands of their own.

- :mod:`.global_features` (``global-features``): PyRadiomics features of each training case's pancreas (from its
  out-of-fold Stage-1 mask) → ``<work_dir>/radiomics/global_features.csv``
- :mod:`.select` (``select``): the feature selection (per fold, or pooled) → ``radiomics.json`` and
  ``global_vectors.json`` in ``<work_dir>/radiomics/fold_<k>/`` or ``pooled/``
- :mod:`.maps` (``maps``): the map datasets of the ``maps``/``both`` variants (Stage 2's CT crops and labels + one
  channel per selected map feature, normalised with statistics of the selection's training cases)

:func:`run_radiomics` runs them for the experiment, skipping what the chosen variants do not need.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pdacrad.model.radiomics_spec import ModelInputs
from pdacrad_train.config import TrainConfig
from pdacrad_train.ledger import Ledger
from pdacrad_train.parallel import MapCompute
from pdacrad_train.radiomics_config import RadiomicsConfig
from pdacrad_train.steps.radiomics.global_features import run_global_features
from pdacrad_train.steps.radiomics.maps import materialise_map_dataset
from pdacrad_train.steps.radiomics.select import run_select
from pdacrad_train.variants import load_selection, maps_dataset, selection_training_cases
from pdacrad_train.workspace import Workspace

logger = logging.getLogger(__name__)


def run_radiomics(
    config: TrainConfig,
    ws: Workspace,
    rcfg: RadiomicsConfig,
    ledger: Ledger,
    variants: Sequence[str],
    compute: MapCompute,
) -> None:
    """Global features of the OOF masks, feature selection, and the map datasets the variants need (ledger units
    ``radiomics:global-features``, ``radiomics:select``, ``radiomics:maps:<dataset>``; all rerun every time, their
    own caches skipping what is unchanged), on one Dask cluster of ``compute`` (its device and precision for the
    maps)."""
    needs = [ModelInputs.of_variant(v) for v in variants]
    if not any(i.maps or i.global_vector for i in needs):
        logger.info("radiomics: only the base variant runs, nothing to compute")
        return
    allow_gt = config.experiment.allow_gt_masks
    with compute.client() as client:
        # both are cheap to rerun: their own caches skip what is unchanged
        ledger.run(
            "radiomics:global-features",
            lambda: run_global_features(ws, rcfg, compute, allow_gt_masks=allow_gt, client=client),
            lambda: False,
        )
        ledger.run("radiomics:select", lambda: run_select(config, ws, rcfg), lambda: False)
        if not any(i.maps for i in needs):
            return
        mode = rcfg.selection.mode
        selections = [None] if mode == "pooled" else list(config.folds)
        for fold in selections:
            target = maps_dataset(config, mode, fold)
            spec = load_selection(ws, fold)
            ledger.run(
                f"radiomics:maps:{target.dataset_folder_name}",
                lambda spec=spec, target=target, fold=fold: materialise_map_dataset(
                    config,
                    ws,
                    spec,
                    target,
                    compute,
                    allow_gt_masks=allow_gt,
                    client=client,
                    fit_cases=selection_training_cases(config, ws, fold),
                ),
                lambda: False,
            )
