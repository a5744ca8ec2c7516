"""Radiomics statistics around the detector — tables in, CSV / PNG / markdown out; never reads images (except
:mod:`~pdacrad.radiomics_stats.map_contrast`, which reads the parametric maps it compares). The ``[analysis]`` extra;
the ``pdacrad-train analyze`` steps.

One module per job: :mod:`~pdacrad.radiomics_stats.robustness` (ICC across segmentation perturbations),
:mod:`~pdacrad.radiomics_stats.harmonisation` (ComBat), :mod:`~pdacrad.radiomics_stats.models` (nested-CV model
comparison, SHAP), :mod:`~pdacrad.radiomics_stats.recalibration` (calibration, recalibration, decision curves),
:mod:`~pdacrad.radiomics_stats.survival` (penalised Cox, random survival forest),
:mod:`~pdacrad.radiomics_stats.map_contrast` (lesion vs pancreas contrast of the maps), with
:mod:`~pdacrad.radiomics_stats.discrimination` (AUROC / AP with bootstrap CIs, from :mod:`pdacrad.stats`),
:mod:`~pdacrad.radiomics_stats.figures`, :mod:`~pdacrad.radiomics_stats.tables` (reading and joining the
tables, writing the artefacts) and :mod:`~pdacrad.radiomics_stats.steps` (the ``pdacrad-train analyze`` steps). Built on pingouin,
neuroCombat, scikit-learn, xgboost, shap, statsmodels and scikit-survival; heavy imports happen inside functions.
"""
