"""Geometry steps shared by training and inference: the region of interest around the pancreas."""

from __future__ import annotations

from pdacrad.preprocessing.roi import DEFAULT_MARGINS_MM, RoiBox, largest_component, roi_from_mask

__all__ = ["DEFAULT_MARGINS_MM", "RoiBox", "largest_component", "roi_from_mask"]
