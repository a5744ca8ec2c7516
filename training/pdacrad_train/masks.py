"""Where the radiomics steps (``global-features``, ``maps``) get each training case's pancreas from.

The method computes the global vector and the maps of training cases from Stage-1 *predictions*, as at inference,
so that Stage 2 trains on inputs made the way they will be made at deployment. First match wins:

1. ``--masks DIR``: ``DIR/<case>.nii.gz`` on the case's full CT grid, non-zero = pancreas;
2. ``<work_dir>/stage1_oof/<case>.nii.gz``: out-of-fold Stage-1 predictions (each case predicted by the Stage-1
   fold model that did not train on it), written by the experiment's ``oof`` step (:mod:`pdacrad_train.steps.oof`);
3. the ground-truth pancreas of the cohort (``labelsTr/<case>.nii.gz``, labels 1, 4, 5), **only** when asked for
   (``--allow-gt-masks`` or the config's ``experiment.allow_gt_masks``), logged as a warning: optimistic on a
   real cohort, acceptable for synthetic demos and tests.

Either folder must hold every case (a missing one is an :class:`~pdacrad.errors.InvalidInputError` naming it),
never a mix of sources. The pancreas itself is :func:`pdacrad.inference.radiomics_inputs.radiomics_pancreas` of
the mask (its largest component), the function inference applies to the Stage-1 prediction.

Caches key a case's results by the sha256 of its mask file (:meth:`MaskSource.digest`), so new out-of-fold
masks recompute exactly the cases whose masks changed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pdacrad.errors import InvalidInputError
from pdacrad.labels import PANCREAS_LABELS
from pdacrad_train.workspace import Workspace

if TYPE_CHECKING:
    import SimpleITK as sitk

    from pdacrad.model.radiomics_spec import Preprocessing

logger = logging.getLogger(__name__)

MaskKind = Literal["masks", "stage1_oof", "ground_truth"]


@dataclass(frozen=True)
class MaskSource:
    """A folder of ``<case>.nii.gz`` masks on the full CT grid. ``labels``: which values are pancreas (``None``:
    any non-zero voxel)."""

    kind: MaskKind
    folder: Path
    labels: tuple[int, ...] | None = None
    _digests: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def path(self, case: str) -> Path:
        """The mask file of ``case``."""
        return self.folder / f"{case}.nii.gz"

    def describe(self) -> str:
        """One line for logs and reports."""
        what = {
            "masks": "Stage-1 masks",
            "stage1_oof": "out-of-fold Stage-1 masks",
            "ground_truth": "GROUND TRUTH",
        }
        labels = "" if self.labels is None else f" (labels {', '.join(map(str, self.labels))})"
        return f"{what[self.kind]} in {self.folder}{labels}"

    def digest(self, case: str) -> str:
        """sha256 of the case's mask file together with the source's label rule (memoised per run)."""
        if case not in self._digests:
            sha = hashlib.sha256(repr(self.labels).encode())
            with self.path(case).open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    sha.update(block)
            self._digests[case] = sha.hexdigest()
        return self._digests[case]

    def pancreas(self, case: str, preprocessing: Preprocessing) -> sitk.Image:
        """The case's radiomics pancreas: the mask's pancreas voxels (``labels``, or non-zero) reduced by
        :func:`~pdacrad.inference.radiomics_inputs.radiomics_pancreas` (largest component); uint8 0/1 on the
        mask's grid."""
        return read_pancreas(self.path(case), self.labels, preprocessing)


def read_pancreas(path: Path, labels: tuple[int, ...] | None, preprocessing: Preprocessing) -> sitk.Image:
    """:meth:`MaskSource.pancreas` of one file (a plain function, so Dask workers need no source object)."""
    import numpy as np
    import SimpleITK as sitk

    from pdacrad.inference.radiomics_inputs import radiomics_pancreas

    image = sitk.ReadImage(str(path))
    if labels is not None:
        array = np.isin(sitk.GetArrayViewFromImage(image), labels).astype(np.uint8)
        binary = sitk.GetImageFromArray(array)
        binary.CopyInformation(image)
        image = binary
    return radiomics_pancreas(image, preprocessing)


def resolve_mask_source(
    ws: Workspace, cases: Sequence[str], masks: Path | None = None, allow_gt_masks: bool = False
) -> MaskSource:
    """The mask source of the radiomics steps for ``cases`` (see the module docstring for the order).

    Raises:
        InvalidInputError: the chosen folder lacks cases (all listed, up to 20), or there are no Stage-1 masks
            and the ground truth is not allowed.
    """
    if masks is not None:
        source = MaskSource("masks", Path(masks))
    elif any(ws.stage1_oof.glob("*.nii.gz")):
        source = MaskSource("stage1_oof", ws.stage1_oof)
    elif allow_gt_masks:
        source = MaskSource("ground_truth", ws.cohort / "labelsTr", PANCREAS_LABELS)
        logger.warning(
            "No out-of-fold Stage-1 masks in %s: the radiomics steps use the %s, as allowed by "
            "--allow-gt-masks / experiment.allow_gt_masks. Fine for synthetic demos; on a real cohort the "
            "features and maps would be optimistic.",
            ws.stage1_oof,
            source.describe(),
        )
    else:
        raise InvalidInputError(
            f"no Stage-1 pancreas masks for the radiomics steps: {ws.stage1_oof} is empty. Run the experiment's "
            "Stage-1 folds (`pdacrad-train experiment`) to write the out-of-fold masks, pass --masks DIR, or "
            "accept the ground-truth pancreas with --allow-gt-masks (optimistic on real data)."
        )
    missing = [c for c in cases if not source.path(c).is_file()]
    if missing:
        shown = ", ".join(missing[:20]) + (f" (+{len(missing) - 20} more)" if len(missing) > 20 else "")
        raise InvalidInputError(
            f"{source.describe()} lacks {len(missing)} of {len(cases)} case(s): {shown}. Every training case "
            "needs its mask (no mixing of sources)."
        )
    return source
