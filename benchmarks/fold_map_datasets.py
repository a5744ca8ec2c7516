"""Why one map dataset per fold: disk of each fold's map dataset and what differs between folds, read off a finished
experiment's work folder (per-fold selection, at least two fold datasets, nnU-Net preprocessing done).

    .venv/bin/python -m pytest -q tests/training/test_experiment.py --basetemp /tmp/smoke   # the CI smoke chain
    .venv/bin/python benchmarks/fold_map_datasets.py /tmp/smoke/study0/work

Prints, per Stage-2 dataset (the CT-only one and each fold's map dataset): the raw dataset's own bytes (the map
channels) and hard-linked bytes (CT, labels); the preprocessed dataset's bytes and its case arrays' uncompressed
bytes; then, for two folds, every feature both selected, its scaler in each fold and the largest difference of its
channel between the two raw datasets per case; whether the preprocessed CT channel is identical across folds and to
the CT-only dataset's; and the preprocessed files that are byte-identical between the two folds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import blosc2
import numpy as np
import SimpleITK as sitk


def _bytes(paths: Iterable[Path]) -> int:
    return sum(p.stat().st_size for p in paths if p.is_file())


def _arrays(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("nnUNetPlans_3d_fullres/*.b2nd") if not p.name.endswith("_seg.b2nd"))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work_dir", type=Path)
    args = parser.parse_args()
    raw, pre = args.work_dir / "nnUNet_raw", args.work_dir / "nnUNet_preprocessed"
    folds = sorted(p.parent.name for p in raw.glob("Dataset*/pdacrad_maps.json") if "Fold" in p.parent.name)
    plain = [p.name for p in sorted(raw.glob("Dataset*Stage2*")) if not (p / "pdacrad_maps.json").is_file()]
    if not plain:
        raise SystemExit(f"{raw}: no CT-only Stage-2 dataset")
    base = plain[0]
    if len(folds) < 2:
        raise SystemExit(f"{raw}: fewer than two per-fold map datasets")
    for name in (base, *folds):
        files = [p for p in (raw / name).rglob("*") if p.is_file()]
        own = _bytes(p for p in files if p.stat().st_nlink == 1)
        linked = _bytes(p for p in files if p.stat().st_nlink > 1)
        arrays = sum(blosc2.open(str(p)).schunk.nbytes for p in _arrays(pre / name))
        print(
            f"{name}: raw {own / 1e3:.0f} kB own + {linked / 1e3:.0f} kB hard links; preprocessed "
            f"{_bytes((pre / name).rglob('*')) / 1e3:.0f} kB on disk, case arrays {arrays / 1e3:.0f} kB uncompressed"
        )
    a, b = folds[:2]
    record = {f: json.loads((raw / f / "pdacrad_maps.json").read_text()) for f in (a, b)}
    for f in (a, b):
        print(f"{f}: {', '.join(record[f]['map_features'])}")
    for feature in sorted(set(record[a]["map_features"]) & set(record[b]["map_features"])):
        for f in (a, b):
            scaler, i = record[f]["radiomics"]["map_scaler"], record[f]["map_features"].index(feature)
            print(f"  {feature} in {f}: scaler mean {scaler['mean'][i]:.4g}, std {scaler['std'][i]:.4g}")
        diffs = []
        for case in sorted(record[a]["cases"]):
            channels = [
                sitk.GetArrayFromImage(
                    sitk.ReadImage(
                        str(
                            raw
                            / f
                            / "imagesTr"
                            / f"{case}_{record[f]['map_features'].index(feature) + 1:04d}.nii.gz"
                        )
                    )
                )
                for f in (a, b)
            ]
            diffs.append(float(np.abs(channels[0] - channels[1]).max()))
        print(f"  max |{a} − {b}| per case: {', '.join(f'{d:.3g}' for d in diffs)}")
    same_ct = []
    for path in _arrays(pre / a):
        arrays = [
            blosc2.open(str(folder / path.relative_to(pre / a)))[:]
            for folder in (pre / a, pre / b, pre / base)
        ]
        same_ct.append(
            all(x.shape[1:] == arrays[0].shape[1:] and np.array_equal(x[0], arrays[0][0]) for x in arrays)
        )
    print(f"preprocessed CT channel identical in both folds and the CT-only dataset: {all(same_ct)}")
    files = {f: {p.relative_to(pre / f): p for p in (pre / f).rglob("*") if p.is_file()} for f in (a, b)}
    same = [r for r in files[a] if r in files[b] and _digest(files[a][r]) == _digest(files[b][r])]
    print(
        f"preprocessed files byte-identical between {a} and {b}: {len(same)}, "
        f"{_bytes(files[a][r] for r in same) / 1e3:.0f} kB of {_bytes(files[a].values()) / 1e3:.0f} kB"
    )


if __name__ == "__main__":
    main()
