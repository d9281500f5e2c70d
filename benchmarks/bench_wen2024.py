"""One training step of wen2024's MCTN (paper preset: CLIP 768-d → WavLM 1024-d, hidden 256) on windows of L frames
at batch 32: forward (prediction; translation, cycle and joint translation), backward, value clipping at 0.8 and an
Adam step.

The three attention-decoder passes run L sequential frames each, and every frame attends over all L joint states, so the
step grows with L²; the 1000-frame row is the paper's window, the 200-frame row a quicker reference point. The peak
resident memory of the process is printed after each row (rows run in increasing L, so each peak is its row's).

    pytest benchmarks/bench_wen2024.py --benchmark-only -s
"""

from __future__ import annotations

import resource
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from abaw_bench.harness.systems import get_system

BATCH = 32
DIMS = {"clip-l14": 768, "wavlm-large": 1024}


@pytest.fixture(scope="module")
def step_times() -> Iterator[dict[int, tuple[float, float]]]:
    found: dict[int, tuple[float, float]] = {}
    yield found
    print()
    for frames, (seconds, peak_gb) in sorted(found.items()):
        print(f"wen2024 mctn-clip-wavlm [paper], batch {BATCH} × {frames} frames: {seconds:.1f} s per training step "
              f"({BATCH * frames / seconds:.0f} frames/s), peak RSS {peak_gb:.1f} GB, "
              f"{torch.get_num_threads()} threads")


@pytest.mark.parametrize("frames", [200, 1000])
def test_mctn_training_step(frames: int, benchmark: Any, step_times: dict[int, tuple[float, float]]) -> None:
    spec = get_system("wen2024")
    torch.manual_seed(0)
    variant = spec.variant("va", "mctn-clip-wavlm")
    model = spec.build_model("va", variant, DIMS,
                             spec.knobs_for("va", variant, "paper"), spec.hyper_for("va", variant)).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    inputs = {name: (torch.randn(BATCH, frames, dim), torch.full((BATCH,), frames)) for name, dim in DIMS.items()}
    labels = torch.rand(BATCH, frames, 2) * 2 - 1

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        predictions, auxiliary = model(inputs)
        loss = (predictions - labels).square().mean() + sum(auxiliary.values())
        loss.backward()
        torch.nn.utils.clip_grad_value_(model.parameters(), 0.8)
        optimizer.step()
        return float(loss.detach())

    loss = benchmark.pedantic(step, rounds=1, iterations=1, warmup_rounds=0)
    assert torch.isfinite(torch.tensor(loss))
    step_times[frames] = (benchmark.stats.stats.median, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6)
