"""How visible a lesion is in each input channel of a Stage-2 dataset (the CT and every parametric map): per case,
the voxel-level AUROC of the lesion's voxels against the rest of the pancreas, reported as the separation
``|AUROC − 0.5| × 2`` (0 = indistinguishable, 1 = no overlap, direction-free), summarised per lesion kind.

It answers "does a map show what the CT does not?" before any network is trained: if texture-only lesions separate
in a map channel but not in the CT channel, the map carries the signal, and a network that fails to use it fails
for another reason (capacity, schedule, normalisation). Inputs: an nnU-Net raw dataset
(``imagesTr/<case>_<cccc>.nii.gz``, ``labelsTr/<case>.nii.gz`` with PANORAMA labels, ``dataset.json`` naming the
channels) and optionally a case table with ``lesion_kind``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import stats
from tqdm import tqdm

from pdacrad.errors import InvalidInputError
from pdacrad.labels import PANCREAS_LABELS, Label

MIN_VOXELS = 10
"""Cases whose lesion or remaining pancreas has fewer voxels are left out (AUROC too noisy)."""


@dataclass(frozen=True)
class MapContrast:
    """Per case × channel separation (``cases``) and its median per lesion kind × channel (``summary``)."""

    cases: pd.DataFrame
    summary: pd.DataFrame


def separation(lesion: np.ndarray, rest: np.ndarray) -> float:
    """``|AUROC − 0.5| × 2`` of ``lesion`` values against ``rest`` values (Mann–Whitney, ties ½)."""
    u = stats.mannwhitneyu(lesion, rest, alternative="two-sided").statistic
    return float(abs(u / (lesion.size * rest.size) - 0.5) * 2.0)


def _channels(dataset: Path) -> dict[int, str]:
    try:
        names = json.loads((dataset / "dataset.json").read_text())["channel_names"]
    except (OSError, ValueError, KeyError) as error:
        raise InvalidInputError(
            f"{dataset}: no readable dataset.json with channel_names ({error})."
        ) from None
    return {int(k): str(v) for k, v in names.items()}


def map_contrast(dataset: Path, case_table: pd.DataFrame | None = None) -> MapContrast:
    """Separation of every positive case's lesion (label 1) from the rest of its pancreas (labels 4, 5) in each
    channel of ``dataset``; ``case_table`` (indexed by case) adds ``lesion_kind`` to group the summary by.

    Raises:
        InvalidInputError: no dataset.json, or no case with a lesion of at least :data:`MIN_VOXELS` voxels.
    """
    dataset = Path(dataset)
    channels = _channels(dataset)
    rows = []
    for label_file in tqdm(sorted((dataset / "labelsTr").glob("*.nii.gz")), desc="cases", unit="case"):
        case = label_file.name.removesuffix(".nii.gz")
        label = sitk.GetArrayFromImage(sitk.ReadImage(str(label_file)))
        lesion = label == Label.PDAC.value
        rest = np.isin(label, PANCREAS_LABELS) & ~lesion
        if lesion.sum() < MIN_VOXELS or rest.sum() < MIN_VOXELS:
            continue
        kind = "lesion"
        if case_table is not None and case in case_table.index and "lesion_kind" in case_table.columns:
            kind = str(case_table.at[case, "lesion_kind"])
        row: dict[str, object] = {"case": case, "lesion_kind": kind, "lesion_voxels": int(lesion.sum())}
        for index, name in channels.items():
            image = sitk.GetArrayFromImage(
                sitk.ReadImage(str(dataset / "imagesTr" / f"{case}_{index:04d}.nii.gz"))
            )
            row[name] = separation(image[lesion].astype(np.float64), image[rest].astype(np.float64))
        rows.append(row)
    if not rows:
        raise InvalidInputError(f"{dataset}: no case with a lesion of ≥ {MIN_VOXELS} voxels in labelsTr.")
    cases = pd.DataFrame(rows)
    names = list(channels.values())
    summary = cases.groupby("lesion_kind")[names].median()
    summary.insert(0, "n_cases", cases.groupby("lesion_kind").size())
    return MapContrast(cases, summary)


def write_map_contrast(result: MapContrast, out: Path) -> list[Path]:
    """``map_contrast_cases.csv``, ``map_contrast.csv`` (medians per kind) and ``map_contrast.png`` (heat map:
    kinds × channels, the median separation written in each cell) in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "map_contrast_cases.csv", out / "map_contrast.csv", out / "map_contrast.png"]
    result.cases.to_csv(paths[0], index=False, float_format="%.4f")
    result.summary.to_csv(paths[1], float_format="%.4f")
    values = result.summary.drop(columns="n_cases")
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * values.shape[1], 1.6 + 0.45 * values.shape[0]))
    image = ax.imshow(values.to_numpy(), vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for (i, j), v in np.ndenumerate(values.to_numpy()):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v < 0.6 else "black")
    ax.set_xticks(
        range(values.shape[1]), [c.replace("_", " ") for c in values.columns], rotation=60, ha="right"
    )
    ax.set_yticks(
        range(values.shape[0]),
        [f"{k} (n={n})" for k, n in zip(values.index, result.summary["n_cases"], strict=True)],
    )
    ax.tick_params(labelsize=7)
    fig.colorbar(image, ax=ax, label="median |AUROC − 0.5| × 2, lesion vs rest of pancreas")
    ax.set_title("Lesion visibility per input channel", fontsize=9)
    fig.savefig(paths[2], dpi=120, bbox_inches="tight")
    plt.close(fig)
    return paths
