"""--device auto|cpu|cuda resolved once."""

from __future__ import annotations

import pytest
import torch

from pdacrad.errors import InvalidInputError
from pdacrad.inference.device import resolve_device


def test_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("AUTO").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_unknown_device_is_invalid_input():
    with pytest.raises(InvalidInputError, match="auto, cpu, cuda"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_invalid_input():
    with pytest.raises(InvalidInputError, match="no CUDA device"):
        resolve_device("cuda")
