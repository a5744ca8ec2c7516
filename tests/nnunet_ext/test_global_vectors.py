"""global_vectors.json: round trip, validation, batch look-up in key order."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pdacrad.errors import InvalidInputError
from pdacrad.nnunet_ext.conditioning.global_vectors import (
    GLOBAL_VECTORS_FILENAME,
    load_global_vectors,
    save_global_vectors,
)

NAMES = ("original_glcm_Correlation", "original_firstorder_Mean", "wavelet-LLH_glszm_ZoneEntropy")


def test_round_trip_and_matrix_order(tmp_path):
    rng = np.random.default_rng(0)
    vectors = {f"case_{i:03d}": rng.normal(size=3) for i in range(4)}
    written = save_global_vectors(tmp_path, NAMES, vectors)
    assert written == tmp_path / GLOBAL_VECTORS_FILENAME
    table = load_global_vectors(tmp_path)
    assert table.feature_names == NAMES and table.num_features == 3
    keys = ["case_002", "case_000", "case_002", "case_003"]
    matrix = table.matrix(keys)
    assert matrix.dtype == torch.float32 and matrix.shape == (4, 3)
    expected = np.stack([vectors[k] for k in keys]).astype(np.float32)
    np.testing.assert_array_equal(matrix.numpy(), expected)
    assert table.missing(["case_001", "case_009"]) == ["case_009"]


def test_unknown_case_is_a_clear_error(tmp_path):
    save_global_vectors(tmp_path / "gv.json", NAMES, {"a": [0.0, 1.0, 2.0]})
    table = load_global_vectors(tmp_path / "gv.json")
    with pytest.raises(InvalidInputError, match="No global vector for case 'b'"):
        table.matrix(["a", "b"])


@pytest.mark.parametrize(
    ("names", "vectors", "message"),
    [
        (NAMES, {"a": [0.0, 1.0]}, r"shape \(2,\), expected \(3,\)"),
        (NAMES, {"a": [0.0, float("nan"), 1.0]}, "non-finite values for \\['original_firstorder_Mean'\\]"),
        (("x", "x", "y"), {"a": [0.0, 1.0, 2.0]}, "unique"),
    ],
)
def test_invalid_vectors_are_rejected_on_save(tmp_path, names, vectors, message):
    with pytest.raises(InvalidInputError, match=message):
        save_global_vectors(tmp_path / "gv.json", names, vectors)
    assert not (tmp_path / "gv.json").exists()


def test_invalid_files_are_rejected_on_load(tmp_path):
    with pytest.raises(InvalidInputError, match="no global vector file"):
        load_global_vectors(tmp_path)
    path = tmp_path / GLOBAL_VECTORS_FILENAME
    path.write_text(json.dumps({"format_version": 1, "feature_names": ["a", "b"], "vectors": {"c": [1.0]}}))
    with pytest.raises(InvalidInputError, match="case 'c'"):
        load_global_vectors(path)
    path.write_text(json.dumps({"feature_names": ["a"], "vectors": {}}))
    with pytest.raises(InvalidInputError, match="format_version"):
        load_global_vectors(path)
