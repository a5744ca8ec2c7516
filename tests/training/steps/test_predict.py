"""predict: a fold's global vectors reuse the ``global-features`` cache when it was computed from the same inputs
(the fold's ``radiomics.json`` params as ``select`` writes them, the same out-of-fold mask, CT and pancreas rule),
and the vector from the cache equals the one the pipeline computes; other params or a new mask are not reused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from pdacrad_train.cv_prediction import cached_global_features
from pdacrad_train.parallel import MapCompute
from pdacrad_train.radiomics_config import RadiomicsConfig, load_params
from pdacrad_train.steps.radiomics.global_features import run_global_features
from pdacrad_train.workspace import Workspace

from pdacrad.inference.radiomics_inputs import compute_global_vector, radiomics_pancreas
from pdacrad.io import load_ct
from pdacrad.labels import PANCREAS_LABELS
from pdacrad.model.radiomics_spec import RadiomicsSpec
from pdacrad.synth import generate_cohort

# The full params of the global-features step: every feature of these classes on original, two LoG and wavelet.
PARAMS_YAML = """\
setting:
  binWidth: 25
  label: 1
imageType:
  Original: {}
  LoG:
    sigma: [1.0, 2.0]
  Wavelet: {}
featureClass:
  shape:
  firstorder:
  glcm:
pdacrad:
  intensityWindow: [-160, 240]
"""
SELECTED = (
    "original_shape_Sphericity",
    "log-sigma-2-0-mm-3D_firstorder_Median",
    "wavelet-HLL_glcm_Idm",
    "original_glcm_Correlation",
)


#: The map settings of these tests: CPU, float64, one in-process worker thread.
IN_PROCESS = MapCompute("cpu", "float64", n_workers=1, processes=False)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, RadiomicsSpec, list[str]]:
    """A 2-case cohort with out-of-fold masks (its pancreas labels), the global-features step run on it, and the
    fold's ``radiomics.json`` as ``select`` writes it (the params file's dict, through JSON)."""
    root = tmp_path_factory.mktemp("predict")
    cohort = root / "cohort"
    cases = list(generate_cohort(cohort, 2, seed=5, size_xyz=(48, 48, 32), progress=False)["case"])
    (root / "params.yaml").write_text(PARAMS_YAML)
    ws = Workspace(root / "work", cohort, *(root / n for n in ("raw", "pre", "res")))
    ws.stage1_oof.mkdir(parents=True)
    for case in cases:
        labels = sitk.ReadImage(str(cohort / "labelsTr" / f"{case}.nii.gz"))
        mask = sitk.GetImageFromArray(
            np.isin(sitk.GetArrayViewFromImage(labels), PANCREAS_LABELS).astype(np.uint8)
        )
        mask.CopyInformation(labels)
        sitk.WriteImage(mask, str(ws.oof_mask(case)))
    rcfg = RadiomicsConfig(params=str(root / "params.yaml"), n_workers=1)
    run_global_features(ws, rcfg, IN_PROCESS)
    n = len(SELECTED)
    spec = RadiomicsSpec(
        load_params(rcfg.params_path), SELECTED, tuple(range(n)), tuple(1.0 + i for i in range(n))
    )
    spec.save(root / "radiomics.json")
    return ws, RadiomicsSpec.load(root / "radiomics.json"), cases


def _pipeline_inputs(ws: Workspace, case: str) -> tuple[sitk.Image, sitk.Image]:
    """The CT and pancreas as ``predict_validation_cases`` gives them to the pipeline."""
    ct = load_ct(ws.cohort / "imagesTr" / f"{case}_0000.nii.gz")
    return ct, radiomics_pancreas(sitk.ReadImage(str(ws.oof_mask(case))))


def test_cached_features_give_the_vector_the_pipeline_computes(study) -> None:
    ws, spec, cases = study
    for case in cases:
        cached = cached_global_features(ws, spec, case)
        assert cached is not None and set(SELECTED) <= set(cached)
        assert len(cached) > 100  # the step's whole params file, not the selection
        ct, pancreas = _pipeline_inputs(ws, case)
        computed = compute_global_vector(ct, pancreas, spec)  # pruned params
        np.testing.assert_array_equal(compute_global_vector(ct, pancreas, spec, cached), computed)
        assert np.all(computed != 0)


def test_a_cache_of_other_params_or_another_mask_is_not_reused(study, tmp_path: Path) -> None:
    ws, spec, cases = study
    other = RadiomicsSpec.from_dict(
        {**spec.to_dict(), "params": {**spec.params, "setting": {"binWidth": 10}}}
    )
    assert cached_global_features(ws, other, cases[0]) is None
    assert cached_global_features(ws, spec, "not_a_case") is None
    # a new out-of-fold mask for the case (same path, other content): its cache is stale
    mask_path = ws.oof_mask(cases[1])
    original = mask_path.read_bytes()
    try:
        mask = sitk.ReadImage(str(mask_path))
        sitk.WriteImage(sitk.BinaryErode(mask, [1, 1, 0]), str(mask_path))
        assert cached_global_features(ws, spec, cases[1]) is None
    finally:
        mask_path.write_bytes(original)
    assert cached_global_features(ws, spec, cases[1]) is not None
