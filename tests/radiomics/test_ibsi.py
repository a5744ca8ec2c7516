"""IBSI 1 digital phantom: segment features equal the IBSI reference values where PyRadiomics' definition is IBSI's.

Settings as the IBSI 1 manual's phantom configuration: no resampling, grey levels used as they are (binWidth 1 on
integer levels 1..6 keeps them), 3D GLCM averaged over the 13 directions ("3D, averaged", tags ``*_3D_avg``).
Reference values are given to 3 significant digits, so agreement means equality after that rounding.

Mapping (IBSI tag → PyRadiomics feature); left out: tags PyRadiomics defines differently (e.g. Kurtosis is not
excess kurtosis — mapped with −3 below — and Energy/TotalEnergy, which include voxel volume in PyRadiomics).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import SimpleITK as sitk

from pdacrad.radiomics import compute_features

DATA = Path(__file__).resolve().parents[1] / "data"

MAPPING = {
    "stat_mean": ("original_firstorder_Mean", 0.0),
    "stat_var": ("original_firstorder_Variance", 0.0),
    "stat_skew": ("original_firstorder_Skewness", 0.0),
    "stat_kurt": ("original_firstorder_Kurtosis", -3.0),  # PyRadiomics reports kurtosis, IBSI excess kurtosis
    "stat_median": ("original_firstorder_Median", 0.0),
    "stat_min": ("original_firstorder_Minimum", 0.0),
    "stat_p10": ("original_firstorder_10Percentile", 0.0),
    "stat_p90": ("original_firstorder_90Percentile", 0.0),
    "stat_max": ("original_firstorder_Maximum", 0.0),
    "stat_iqr": ("original_firstorder_InterquartileRange", 0.0),
    "stat_range": ("original_firstorder_Range", 0.0),
    "stat_mad": ("original_firstorder_MeanAbsoluteDeviation", 0.0),
    "stat_rmad": ("original_firstorder_RobustMeanAbsoluteDeviation", 0.0),
    "stat_energy": ("original_firstorder_Energy", 0.0),
    "stat_rms": ("original_firstorder_RootMeanSquared", 0.0),
    "cm_joint_max_3D_avg": ("original_glcm_MaximumProbability", 0.0),
    "cm_joint_avg_3D_avg": ("original_glcm_JointAverage", 0.0),
    "cm_joint_var_3D_avg": ("original_glcm_SumSquares", 0.0),
    "cm_joint_entr_3D_avg": ("original_glcm_JointEntropy", 0.0),
    "cm_diff_avg_3D_avg": ("original_glcm_DifferenceAverage", 0.0),
    "cm_diff_var_3D_avg": ("original_glcm_DifferenceVariance", 0.0),
    "cm_diff_entr_3D_avg": ("original_glcm_DifferenceEntropy", 0.0),
    "cm_sum_avg_3D_avg": ("original_glcm_SumAverage", 0.0),
    "cm_sum_entr_3D_avg": ("original_glcm_SumEntropy", 0.0),
    "cm_energy_3D_avg": ("original_glcm_JointEnergy", 0.0),
    "cm_contrast_3D_avg": ("original_glcm_Contrast", 0.0),
    "cm_inv_diff_3D_avg": ("original_glcm_Id", 0.0),
    "cm_inv_diff_norm_3D_avg": ("original_glcm_Idn", 0.0),
    "cm_inv_diff_mom_3D_avg": ("original_glcm_Idm", 0.0),
    "cm_inv_diff_mom_norm_3D_avg": ("original_glcm_Idmn", 0.0),
    "cm_inv_var_3D_avg": ("original_glcm_InverseVariance", 0.0),
    "cm_corr_3D_avg": ("original_glcm_Correlation", 0.0),
    "cm_auto_corr_3D_avg": ("original_glcm_Autocorrelation", 0.0),
    "cm_clust_tend_3D_avg": ("original_glcm_ClusterTendency", 0.0),
    "cm_clust_shade_3D_avg": ("original_glcm_ClusterShade", 0.0),
    "cm_clust_prom_3D_avg": ("original_glcm_ClusterProminence", 0.0),
    "cm_info_corr1_3D_avg": ("original_glcm_Imc1", 0.0),
}


def _reference() -> dict[str, float]:
    with open(DATA / "ibsi_1_reference_values_digital_phantom.csv", encoding="utf-8-sig") as fh:
        return {
            row["tag"]: float(row["reference value"]) for row in csv.DictReader(fh) if row["reference value"]
        }


def _round3(x: float) -> float:
    if x == 0:
        return 0.0
    digits = 2 - math.floor(math.log10(abs(x)))
    return round(x, digits)


@pytest.fixture(scope="module")
def phantom_features() -> dict[str, float]:
    image = sitk.ReadImage(str(DATA / "ibsi1_digital_phantom_image.nii.gz"))
    mask = sitk.ReadImage(str(DATA / "ibsi1_digital_phantom_mask.nii.gz"))
    params = {
        "setting": {"binWidth": 1},
        "imageType": {"Original": {}},
        "featureClass": {"firstorder": None, "glcm": None},
    }
    return compute_features(image, mask, params)


def test_mapped_tags_exist_in_the_reference() -> None:
    reference = _reference()
    assert set(MAPPING) <= set(reference)


@pytest.mark.parametrize("tag", sorted(MAPPING))
def test_phantom_value_equals_ibsi_reference(tag: str, phantom_features: dict[str, float]) -> None:
    name, offset = MAPPING[tag]
    expected = _reference()[tag]
    assert _round3(phantom_features[name] + offset) == pytest.approx(expected, abs=1e-12), (name, expected)
