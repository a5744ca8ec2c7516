"""Synthetic PANORAMA-format cohort: anatomy-like portal-venous CT phantoms with pancreas, duct, bile duct,
vessels and PDAC-like lesions (hypo-attenuating or texture-only), deterministic for a seed.

Modules by job: ``geometry`` (grid, mm coordinates, tube distances), ``anatomy`` (the lesion-free phantom),
``lesions`` (label-1 blobs), ``noise`` (scanner blur and noise), ``cohort`` (cases and the dataset folder).
Imports only numpy, scipy, SimpleITK, pandas and tqdm.
"""

from pdacrad.synth.cohort import CASES_CSV_COLUMNS, CaseRecord, case_id, generate_case, generate_cohort

__all__ = ["CASES_CSV_COLUMNS", "CaseRecord", "case_id", "generate_case", "generate_cohort"]
