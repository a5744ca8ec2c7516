"""Post-processing of the Stage-2 output (PANORAMA baseline semantics, plus the region's anchoring to the Stage-1
pancreas, :func:`anchored_region`): tumour probability kept inside the dilated
pancreas, lesion candidates with ``report_guided_annotation``, case likelihood, and paste-back of the ROI map into
the input CT's geometry."""

from pdacrad.postprocessing.candidates import LesionCandidates, extract_candidates
from pdacrad.postprocessing.paste import paste_into_reference, zeros_like_reference
from pdacrad.postprocessing.tumour import anchored_region, pancreas_region, restrict_to_region

__all__ = [
    "LesionCandidates",
    "anchored_region",
    "extract_candidates",
    "pancreas_region",
    "paste_into_reference",
    "restrict_to_region",
    "zeros_like_reference",
]
