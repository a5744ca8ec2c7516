"""Per-case probes of the rehearsal (``benchmarks/rehearsal.py --steps probe-maps``): units too costly to run for
the whole cohort on a CPU, measured once on one real-size case so that a cost plan can scale them.

``probe_maps``: one voxel-wise map per feature family at ``panorama.radiomics.yaml``'s map settings (kernel radius
5 on 1 × 1 × 2.5 mm, the HU window, bin width 20, masked kernel) inside the map mask the pipeline uses (the
case's ground-truth pancreas, labels 1/4/5, largest component dilated by ``mask_dilation_mm``), float64 on the CPU —
each map its own :class:`~pdacrad_train.unit_costs.UnitMeter` unit ``probe:maps:<feature>``.

``probe_global``: the global feature vector's extraction as the ``radiomics`` step runs it per case — the whole
``paper_global.yaml`` (original + LoG + wavelet, every feature class) by PyRadiomics on the case's pancreas
(labels 1/4/5, largest component) — one unit ``probe:global:paper_global``.

``probe_network``: a network of the PANORAMA baseline's plans (PANORAMA_FACTS.md; :data:`STAGE1`: 5 stages, 2
classes, patch 48 × 96 × 96, batch 9; :data:`STAGE2`: 6 stages, 32–320 features, 7 classes, patch 48 × 128 × 288,
batch 2; PlainConvUNet with deep supervision) — one training
step (forward, cross-entropy on every deep-supervision output, backward, SGD step as nnU-Net's: lr 1e-2,
momentum 0.99, Nesterov) and one inference forward pass of one patch, each a unit ``probe:<stage>:<what>``, with
``channels`` input channels (1: CT only; 11: CT + 10 maps). The network and patch are the plans'; the loop is
not nnU-Net's (no augmentation, no data loading): a lower bound of an iteration's cost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import SimpleITK as sitk
import torch
from pdacrad_train.radiomics_config import MapParamsConfig
from pdacrad_train.unit_costs import UnitMeter

from pdacrad.inference.radiomics_inputs import map_mask, radiomics_pancreas
from pdacrad.labels import PANCREAS_LABELS
from pdacrad.radiomics import PARAMS_DIR, compute_features, compute_maps

logger = logging.getLogger(__name__)

#: One feature of each texture family and first order (PyRadiomics names).
PROBE_FEATURES = (
    "original_firstorder_Mean",
    "original_glcm_Correlation",
    "original_glrlm_RunEntropy",
    "original_glszm_ZoneEntropy",
    "original_gldm_DependenceEntropy",
    "original_ngtdm_Contrast",
)


def _case(cohort: Path, case: str) -> tuple[sitk.Image, sitk.Image]:
    """The CT of ``case`` and its ground-truth pancreas (labels 1/4/5), uint8 0/1 on the CT's grid."""
    image = sitk.ReadImage(str(cohort / "imagesTr" / f"{case}_0000.nii.gz"))
    labels = sitk.ReadImage(str(cohort / "labelsTr" / f"{case}.nii.gz"))
    pancreas = sum((labels == v for v in PANCREAS_LABELS[1:]), labels == PANCREAS_LABELS[0])
    return image, sitk.Cast(pancreas, sitk.sitkUInt8)


def probe_global(cohort: Path, case: str, costs: Path) -> None:
    """The whole ``paper_global.yaml`` on ``case``'s pancreas; costs to ``costs/probe_global_paper_global.json``."""
    image, pancreas = _case(cohort, case)
    with UnitMeter("probe:global:paper_global", costs):
        values = compute_features(image, radiomics_pancreas(pancreas), PARAMS_DIR / "paper_global.yaml")
    logger.info("probe-global: %d features", len(values))


def probe_maps(cohort: Path, case: str, costs: Path, settings: MapParamsConfig) -> None:
    """Each of :data:`PROBE_FEATURES` as a map of ``case`` of ``cohort``; costs to ``costs/probe_maps_*.json``."""
    image, pancreas = _case(cohort, case)
    mask = map_mask(pancreas, settings.mask_dilation_mm)
    voxels = int(sitk.GetArrayViewFromImage(mask).sum())
    logger.info("probe-maps: %s, %s voxels, map mask %d voxels", case, image.GetSize(), voxels)
    families = sorted({f.split("_")[1] for f in PROBE_FEATURES})
    params = settings.params({"Original": {}}, families)
    for feature in PROBE_FEATURES:
        with UnitMeter(f"probe:maps:{feature}", costs):
            compute_maps(image, mask, params, [feature], device="cpu", dtype="float64")


@dataclass(frozen=True)
class NetworkProbe:
    """A baseline network of PANORAMA_FACTS.md: stages' features and strides (z, y, x), output classes, patch
    (z, y, x voxels) and batch size."""

    name: str
    features: tuple[int, ...]
    strides: tuple[tuple[int, int, int], ...]
    classes: int
    patch_zyx: tuple[int, int, int]
    batch: int


#: Stage 1 (9 × 4.5 × 4.5 mm pancreas, batch 9) and Stage 2 (full-resolution ROI, labels 0–6, batch 2).
STAGE1 = NetworkProbe(
    "stage1",
    (32, 64, 128, 256, 320),
    ((1, 1, 1), (1, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 2)),
    2,
    (48, 96, 96),
    9,
)
STAGE2 = NetworkProbe(
    "stage2", (32, 64, 128, 256, 320, 320), ((1, 1, 1), (1, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 2), (1, 2, 2)),
    7, (48, 128, 288), 2,
)  # fmt: skip


def probe_network(costs: Path, probe: NetworkProbe, channels: int = 1) -> None:
    """One training step (batch ``probe.batch``) and one patch's forward pass of a baseline network on CPU (see
    the module docstring); costs to ``costs/probe_<stage>_*.json``."""
    from dynamic_network_architectures.architectures.unet import PlainConvUNet

    n = len(probe.features)
    net = PlainConvUNet(
        channels, n, list(probe.features), torch.nn.Conv3d, [[1, 3, 3]] + [[3, 3, 3]] * (n - 1),
        [list(s) for s in probe.strides], 2, probe.classes, 2,
        conv_bias=True, norm_op=torch.nn.InstanceNorm3d, norm_op_kwargs={"eps": 1e-5, "affine": True},
        nonlin=torch.nn.LeakyReLU, nonlin_kwargs={"inplace": True}, deep_supervision=True,
    )  # fmt: skip
    logger.info("probe-%s: %.1f M parameters", probe.name, sum(p.numel() for p in net.parameters()) / 1e6)
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.99, nesterov=True, weight_decay=3e-5)
    x = torch.randn(probe.batch, channels, *probe.patch_zyx)
    with UnitMeter(f"probe:{probe.name}:train_step_c{channels}_b{probe.batch}", costs):
        outputs = net(x)
        loss = sum(
            torch.nn.functional.cross_entropy(o, torch.zeros(o.shape[0], *o.shape[2:], dtype=torch.long))
            for o in outputs
        )
        optimizer.zero_grad()
        loss.backward()  # type: ignore[union-attr]
        optimizer.step()
    net.eval()
    with UnitMeter(f"probe:{probe.name}:forward_c{channels}_b1", costs), torch.no_grad():
        net(x[:1])
