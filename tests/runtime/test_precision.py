"""The run's precision (harness/runtime/precision.py): "auto" is fp32 off CUDA, and an unknown dtype is a message."""

from __future__ import annotations

import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.runtime import precision


def test_auto_dtype_is_fp32_off_cuda() -> None:
    assert precision.resolve_dtype("auto", "cpu") == "fp32"
    assert precision.resolve_dtype("bf16", "cpu") == "bf16"
    with pytest.raises(AbawError, match="dtype 'half'"):
        precision.resolve_dtype("half", "cpu")
