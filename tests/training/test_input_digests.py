"""Digests of a unit's inputs: whole small files, the oof step's record of the masks (not their paths), and the
one-line reasons the ledger logs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pdacrad_train.input_digests import (
    MISSING,
    changed_inputs,
    file_digest,
    json_digest,
    json_field_digest,
    oof_masks_digest,
)


def test_a_file_digest_is_the_sha256_of_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "plans.json"
    assert file_digest(path) == MISSING
    path.write_bytes(b"x" * (3 << 20))  # several read blocks
    assert file_digest(path) == "sha256:" + hashlib.sha256(b"x" * (3 << 20)).hexdigest()
    assert json_digest({"b": 1, "a": [1.5]}) == json_digest({"a": [1.5], "b": 1})
    (tmp_path / "maps.json").write_text(json.dumps({"digest": "abc", "cases": {}}))
    assert json_field_digest(tmp_path / "maps.json", "digest") == json_digest("abc")
    assert (
        json_field_digest(tmp_path / "maps.json", "nope") == MISSING == json_field_digest(tmp_path / "x", "d")
    )


def test_the_masks_digest_covers_the_cases_asked_for_and_not_their_paths(tmp_path: Path) -> None:
    assert oof_masks_digest(tmp_path, ["a"]) == MISSING
    records = {c: {"fold": k, "source": f"/work/{c}.nii.gz", "sha256": c * 64} for k, c in enumerate("ab")}
    (tmp_path / "provenance.json").write_text(json.dumps(records))
    of_a, of_both = oof_masks_digest(tmp_path, ["a"]), oof_masks_digest(tmp_path, ["b", "a"])
    records["a"]["source"] = "/moved/a.nii.gz"
    records["b"]["sha256"] = "c" * 64  # b's fold retrained
    (tmp_path / "provenance.json").write_text(json.dumps(records))
    assert oof_masks_digest(tmp_path, ["a"]) == of_a and oof_masks_digest(tmp_path, ["a", "b"]) != of_both
    assert oof_masks_digest(tmp_path, ["a", "z"]) != of_a  # a case without a mask counts


def test_changed_inputs_name_each_change_with_both_digests() -> None:
    was = {"plans": "sha256:" + "1" * 64, "checkpoint": "sha256:" + "2" * 64}
    now = {"checkpoint": "sha256:" + "3" * 64, "plans": was["plans"], "oof_masks": MISSING}
    assert changed_inputs(was, now) == ["checkpoint changed (was sha256 22222222…, now sha256 33333333…)"]
    assert changed_inputs(was, {"plans": MISSING}) == []  # deleted to save disk: what was made from it stays
    assert changed_inputs({"plans": MISSING}, was) == ["plans changed (was missing, now sha256 11111111…)"]
