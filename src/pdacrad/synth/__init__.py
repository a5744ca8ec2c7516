"""Synthetic PANORAMA-format cohort: anatomy-like portal-venous CT phantoms with pancreas, duct, bile duct,
vessels and PDAC-like lesions (attenuation-only, texture-only or both, in known shares), optional confounders
(dilated ducts without tumour, low-dose noise, thick slices), deterministic for a seed.

Modules by job: ``geometry`` (grid, mm coordinates, tube distances), ``anatomy`` (the lesion-free phantom),
``lesions`` (label-1 blobs), ``confounders`` (what looks like or hides a PDAC), ``noise`` (scanner blur and
noise), ``plan`` (which case gets what), ``cohort`` (cases and the dataset folder).
Imports only numpy, scipy, SimpleITK, pandas and tqdm.
"""

from pdacrad.synth.cohort import CASES_CSV_COLUMNS, CaseRecord, case_id, generate_case, generate_cohort
from pdacrad.synth.confounders import CONFOUNDERS, CaseConfounders, ConfounderRates
from pdacrad.synth.plan import LesionMix

__all__ = [
    "CASES_CSV_COLUMNS",
    "CONFOUNDERS",
    "CaseConfounders",
    "CaseRecord",
    "ConfounderRates",
    "LesionMix",
    "case_id",
    "generate_case",
    "generate_cohort",
]
