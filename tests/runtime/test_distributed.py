"""The rank's device under torchrun, the process-group timeout, and a world of one outside torchrun
(harness/runtime/distributed.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import torch
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.runtime import distributed
from abaw_bench.harness.runtime.distributed import DistContext


@pytest.mark.parametrize(("requested", "local_rank", "expected"), [
    ("cuda", None, "cuda"), ("cuda:1", None, "cuda:1"), ("cpu", 3, "cpu"),
    ("cuda", 2, "cuda:2"), ("cuda:0", 1, "cuda:1"), ("cuda:5", 0, "cuda:0"),
])
def test_under_torchrun_every_cuda_request_is_the_ranks_own_gpu(requested: str, local_rank: int | None,
                                                                 expected: str) -> None:
    assert distributed.rank_device(requested, local_rank) == expected


def test_process_group_timeout_is_generous_and_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(distributed.TIMEOUT_ENV, raising=False)
    assert distributed.process_group_timeout() == timedelta(minutes=distributed.DEFAULT_TIMEOUT_MINUTES)
    monkeypatch.setenv(distributed.TIMEOUT_ENV, "240")
    assert distributed.process_group_timeout() == timedelta(hours=4)
    for bad in ("soon", "-5", "0", "nan", "inf", "1e20"):
        monkeypatch.setenv(distributed.TIMEOUT_ENV, bad)
        with pytest.raises(AbawError, match=distributed.TIMEOUT_ENV):
            distributed.process_group_timeout()


def test_outside_torchrun_setup_is_a_world_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.setup("cpu") == DistContext(0, 1, 0, torch.device("cpu"))
