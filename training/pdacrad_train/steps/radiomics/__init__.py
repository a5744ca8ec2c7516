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

import functools
import logging
from collections.abc import Sequence

from pdacrad_train.config import TrainConfig
from pdacrad_train.ledger import Ledger
from pdacrad_train.parallel import MapCompute
from pdacrad_train.radiomics_config import RadiomicsConfig
from pdacrad_train.steps.radiomics.global_features import run_global_features
from pdacrad_train.steps.radiomics.maps import materialise_map_dataset
from pdacrad_train.steps.radiomics.select import run_select
from pdacrad_train.units import radiomics_units
from pdacrad_train.variants import load_selection, selection_training_cases
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
    units = radiomics_units(config, rcfg.selection.mode, variants)
    if not units:
        logger.info("radiomics: only the base variant runs, nothing to compute")
        return
    allow_gt = config.experiment.allow_gt_masks
    global_features, select, *maps = units
    with compute.client() as client:
        # both are cheap to rerun: their own caches skip what is unchanged
        ledger.run(
            global_features.name,
            lambda: run_global_features(ws, rcfg, compute, allow_gt_masks=allow_gt, client=client),
            lambda: False,
        )
        ledger.run(select.name, lambda: run_select(config, ws, rcfg), lambda: False)
        for unit in maps:  # one map dataset per selection: unit.fold's, or the pooled one (None)
            assert unit.stage is not None
            ledger.run(
                unit.name,
                functools.partial(
                    materialise_map_dataset,
                    config,
                    ws,
                    load_selection(ws, unit.fold),
                    unit.stage,
                    compute,
                    allow_gt_masks=allow_gt,
                    client=client,
                    fit_cases=selection_training_cases(config, ws, unit.fold),
                ),
                lambda: False,
            )
