"""Radiomics statistics around the detector — tables in, CSV / PNG / markdown out; never reads images.

One module per job: :mod:`~pdacrad.analysis.robustness` (ICC across segmentation perturbations),
:mod:`~pdacrad.analysis.harmonisation` (ComBat), :mod:`~pdacrad.analysis.models` (nested-CV model comparison,
SHAP), :mod:`~pdacrad.analysis.calibration` (calibration, recalibration, decision curves),
:mod:`~pdacrad.analysis.survival` (penalised Cox, random survival forest), with :mod:`~pdacrad.analysis.metrics`
(CIs, DeLong), :mod:`~pdacrad.analysis.plots`, :mod:`~pdacrad.analysis.io` and :mod:`~pdacrad.analysis.steps`
(the ``pdacrad-train analyze`` steps). Built on pingouin, neuroCombat, scikit-learn, xgboost, shap, statsmodels
and scikit-survival; heavy imports happen inside functions.
"""
