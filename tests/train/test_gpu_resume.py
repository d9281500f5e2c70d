"""Checkpoints that resume on a GPU: RNG states stay on the CPU whatever `map_location` is ("meta" stands in for a
CUDA device here), one state per rank, and a change of precision on resume is an error with a message. (The rank's
device and the process group: tests/runtime/test_distributed.py.)"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.runtime.distributed import DistContext
from abaw_bench.harness.train import checkpoint


def _draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_rng_state_loaded_for_a_device_restores_on_the_cpu(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    model = torch.nn.Linear(3, 2)
    torch.manual_seed(7)
    checkpoint.save(path, {"model": model.state_dict(), "rng": checkpoint.rng_state()})
    expected = _draws()
    # The old loader put every tensor, RNG states included, on the run's device: torch.set_rng_state then refuses.
    raw = torch.load(path, map_location="meta", weights_only=True)
    with pytest.raises((RuntimeError, TypeError)):
        torch.set_rng_state(raw["rng"]["torch"])
    state = checkpoint.load(path, map_location="meta")
    assert state["model"]["weight"].device.type == "meta"
    assert state["rng"]["torch"].device.type == "cpu"
    checkpoint.set_rng_state(state["rng"])
    assert _draws() == expected


def test_every_rank_restores_its_own_rng_state() -> None:
    torch.manual_seed(1)
    first = checkpoint.rng_state()
    torch.manual_seed(2)
    second = checkpoint.rng_state()
    ranks = [DistContext(rank, 2, rank, torch.device("cpu")) for rank in (0, 1)]
    for context, seed in zip(ranks, (1, 2), strict=True):
        torch.manual_seed(99)
        checkpoint.restore_rng_state([first, second], context)
        after_restore = torch.rand(3)
        torch.manual_seed(seed)
        assert torch.equal(after_restore, torch.rand(3))
    alone = DistContext(0, 1, 0, torch.device("cpu"))
    assert len(checkpoint.gather_rng_states(alone)) == 1
    with pytest.raises(AbawError, match="saved by 2 process"):
        checkpoint.restore_rng_state([first, second], alone, "runs/last.pt")


@pytest.mark.parametrize(("saved", "now"), [
    ({"scaler": {}}, "fp16"),  # a disabled GradScaler's {} cannot be loaded by an fp16 one
    ({"scaler": {"scale": torch.tensor(65536.0)}}, "bf16"),  # an fp16 run's scale would be silently dropped
    ({"precision": "bf16", "scaler": {}}, "fp32"),
])
def test_a_precision_change_on_resume_is_an_error(saved: dict, now: str) -> None:
    with pytest.raises(AbawError, match=r"last\.pt.*(precision|fp16)"):
        checkpoint.check_resume_precision(saved, now, "runs/last.pt")


def test_the_same_precision_resumes() -> None:
    checkpoint.check_resume_precision({"scaler": {}}, "bf16")
    checkpoint.check_resume_precision({"scaler": {}}, "fp32")
    checkpoint.check_resume_precision({"scaler": {"scale": torch.tensor(2.0)}}, "fp16")
    checkpoint.check_resume_precision({"precision": "bf16", "scaler": {}}, "bf16")
