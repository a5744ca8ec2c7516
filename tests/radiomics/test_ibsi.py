"""IBSI 1 digital phantom through OUR voxel engine: every voxel's map value equals the IBSI reference value where
PyRadiomics' definition is IBSI's.

A kernel that covers the whole ROI from every voxel (kernelRadius 5 on the 5×4×4 phantom, maskedKernel) makes each
voxel's kernel the ROI itself, so each voxel's value is the segment value and IBSI's phantom references apply: this
runs :func:`pdacrad.radiomics.compute_maps` (discretisation, kernels, counting, formulas), not PyRadiomics.

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

import numpy as np
import pytest
import SimpleITK as sitk

from pdacrad.radiomics import compute_maps

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
    "rlm_sre_3D_avg": ("original_glrlm_ShortRunEmphasis", 0.0),
    "rlm_lre_3D_avg": ("original_glrlm_LongRunEmphasis", 0.0),
    "rlm_lgre_3D_avg": ("original_glrlm_LowGrayLevelRunEmphasis", 0.0),
    "rlm_hgre_3D_avg": ("original_glrlm_HighGrayLevelRunEmphasis", 0.0),
    "rlm_srlge_3D_avg": ("original_glrlm_ShortRunLowGrayLevelEmphasis", 0.0),
    "rlm_srhge_3D_avg": ("original_glrlm_ShortRunHighGrayLevelEmphasis", 0.0),
    "rlm_lrlge_3D_avg": ("original_glrlm_LongRunLowGrayLevelEmphasis", 0.0),
    "rlm_lrhge_3D_avg": ("original_glrlm_LongRunHighGrayLevelEmphasis", 0.0),
    "rlm_glnu_3D_avg": ("original_glrlm_GrayLevelNonUniformity", 0.0),
    "rlm_glnu_norm_3D_avg": ("original_glrlm_GrayLevelNonUniformityNormalized", 0.0),
    "rlm_rlnu_3D_avg": ("original_glrlm_RunLengthNonUniformity", 0.0),
    "rlm_rlnu_norm_3D_avg": ("original_glrlm_RunLengthNonUniformityNormalized", 0.0),
    "rlm_r_perc_3D_avg": ("original_glrlm_RunPercentage", 0.0),
    "rlm_gl_var_3D_avg": ("original_glrlm_GrayLevelVariance", 0.0),
    "rlm_rl_var_3D_avg": ("original_glrlm_RunVariance", 0.0),
    "rlm_rl_entr_3D_avg": ("original_glrlm_RunEntropy", 0.0),
    "szm_sze_3D": ("original_glszm_SmallAreaEmphasis", 0.0),
    "szm_lze_3D": ("original_glszm_LargeAreaEmphasis", 0.0),
    "szm_lgze_3D": ("original_glszm_LowGrayLevelZoneEmphasis", 0.0),
    "szm_hgze_3D": ("original_glszm_HighGrayLevelZoneEmphasis", 0.0),
    "szm_szlge_3D": ("original_glszm_SmallAreaLowGrayLevelEmphasis", 0.0),
    "szm_szhge_3D": ("original_glszm_SmallAreaHighGrayLevelEmphasis", 0.0),
    "szm_lzlge_3D": ("original_glszm_LargeAreaLowGrayLevelEmphasis", 0.0),
    "szm_lzhge_3D": ("original_glszm_LargeAreaHighGrayLevelEmphasis", 0.0),
    "szm_glnu_3D": ("original_glszm_GrayLevelNonUniformity", 0.0),
    "szm_glnu_norm_3D": ("original_glszm_GrayLevelNonUniformityNormalized", 0.0),
    "szm_zsnu_3D": ("original_glszm_SizeZoneNonUniformity", 0.0),
    "szm_zsnu_norm_3D": ("original_glszm_SizeZoneNonUniformityNormalized", 0.0),
    "szm_z_perc_3D": ("original_glszm_ZonePercentage", 0.0),
    "szm_gl_var_3D": ("original_glszm_GrayLevelVariance", 0.0),
    "szm_zs_var_3D": ("original_glszm_ZoneVariance", 0.0),
    "szm_zs_entr_3D": ("original_glszm_ZoneEntropy", 0.0),
    "ngt_coarseness_3D": ("original_ngtdm_Coarseness", 0.0),
    "ngt_contrast_3D": ("original_ngtdm_Contrast", 0.0),
    "ngt_busyness_3D": ("original_ngtdm_Busyness", 0.0),
    "ngt_complexity_3D": ("original_ngtdm_Complexity", 0.0),
    "ngt_strength_3D": ("original_ngtdm_Strength", 0.0),
    "ngl_lde_3D": ("original_gldm_SmallDependenceEmphasis", 0.0),
    "ngl_hde_3D": ("original_gldm_LargeDependenceEmphasis", 0.0),
    "ngl_lgce_3D": ("original_gldm_LowGrayLevelEmphasis", 0.0),
    "ngl_hgce_3D": ("original_gldm_HighGrayLevelEmphasis", 0.0),
    "ngl_ldlge_3D": ("original_gldm_SmallDependenceLowGrayLevelEmphasis", 0.0),
    "ngl_ldhge_3D": ("original_gldm_SmallDependenceHighGrayLevelEmphasis", 0.0),
    "ngl_hdlge_3D": ("original_gldm_LargeDependenceLowGrayLevelEmphasis", 0.0),
    "ngl_hdhge_3D": ("original_gldm_LargeDependenceHighGrayLevelEmphasis", 0.0),
    "ngl_glnu_3D": ("original_gldm_GrayLevelNonUniformity", 0.0),
    "ngl_dcnu_3D": ("original_gldm_DependenceNonUniformity", 0.0),
    "ngl_dcnu_norm_3D": ("original_gldm_DependenceNonUniformityNormalized", 0.0),
    "ngl_gl_var_3D": ("original_gldm_GrayLevelVariance", 0.0),
    "ngl_dc_var_3D": ("original_gldm_DependenceVariance", 0.0),
    "ngl_dc_entr_3D": ("original_gldm_DependenceEntropy", 0.0),
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
def phantom_maps() -> dict[str, np.ndarray]:
    """Our maps of every mapped feature at the phantom's ROI voxels (one value per voxel)."""
    image = sitk.ReadImage(str(DATA / "ibsi1_digital_phantom_image.nii.gz"))
    mask = sitk.ReadImage(str(DATA / "ibsi1_digital_phantom_mask.nii.gz"))
    params = {
        "setting": {"binWidth": 1},
        "voxelSetting": {"kernelRadius": 5, "maskedKernel": True},
        "imageType": {"Original": {}},
    }
    roi = sitk.GetArrayFromImage(mask) == 1
    assert max(np.ptp(axis) for axis in np.nonzero(roi)) <= 5  # every kernel holds the whole ROI
    names = sorted({name for name, _ in MAPPING.values()})
    maps = compute_maps(image, mask, params, names, device="cpu")
    return {name: sitk.GetArrayFromImage(img)[roi] for name, img in maps.items()}


def test_mapped_tags_exist_in_the_reference() -> None:
    reference = _reference()
    assert set(MAPPING) <= set(reference)


@pytest.mark.parametrize("tag", sorted(MAPPING))
def test_every_voxel_equals_the_ibsi_reference(tag: str, phantom_maps: dict[str, np.ndarray]) -> None:
    name, offset = MAPPING[tag]
    values = phantom_maps[name]
    assert len(values) == 74  # the phantom's ROI
    # every kernel is the ROI: one value for all voxels (to rounding of the per-voxel sums)
    np.testing.assert_allclose(values, values[0], rtol=1e-12, atol=1e-12, err_msg=name)
    expected = _reference()[tag]
    assert _round3(float(values[0]) + offset) == pytest.approx(expected, abs=1e-12), (name, expected)
