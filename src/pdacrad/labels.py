"""The PANORAMA label schema: the one place where label values and names are defined.

Label maps (``labelsTr/<case>.nii.gz``, the Stage-2 output) hold one value per voxel::

    0 background, 1 PDAC, 2 veins, 3 arteries, 4 pancreas (parenchyma), 5 pancreatic duct, 6 common bile duct

Stage 1 predicts one foreground label, the *pancreas* in the wide sense: tumour, parenchyma and duct together.
"""

from __future__ import annotations

from enum import IntEnum


class Label(IntEnum):
    """PANORAMA label values."""

    BACKGROUND = 0
    PDAC = 1
    VEINS = 2
    ARTERIES = 3
    PANCREAS = 4
    PANCREATIC_DUCT = 5
    COMMON_BILE_DUCT = 6


#: nnU-Net ``dataset.json`` ``labels`` of the Stage-2 (multi-structure) dataset: name → value.
PANORAMA_LABELS: dict[str, int] = {
    "background": Label.BACKGROUND.value,
    "PDAC": Label.PDAC.value,
    "veins": Label.VEINS.value,
    "arteries": Label.ARTERIES.value,
    "pancreas": Label.PANCREAS.value,
    "pancreatic_duct": Label.PANCREATIC_DUCT.value,
    "common_bile_duct": Label.COMMON_BILE_DUCT.value,
}

#: nnU-Net ``dataset.json`` ``labels`` of the Stage-1 dataset (pancreas in the wide sense).
STAGE1_LABELS: dict[str, int] = {"background": 0, "pancreas": 1}

#: Labels that together make the pancreas in the wide sense: tumour, parenchyma, duct (Stage-1 target, ROI, region
#: the tumour probability is kept in).
PANCREAS_LABELS: tuple[int, ...] = (Label.PDAC.value, Label.PANCREAS.value, Label.PANCREATIC_DUCT.value)

#: The lesion class whose probability makes the detection map.
TUMOUR_LABEL: int = Label.PDAC.value
