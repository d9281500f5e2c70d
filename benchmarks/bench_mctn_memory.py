"""Peak memory of one wen2024 MCTN training step (forward with its three attention-decoder passes, backward) under
bf16 autocast against fp32, at batch B, L frames per window and hidden H (CLIP 768-d → WavLM 1024-d).

Each precision runs in a fresh subprocess, so that one's heap cannot hide the other's; two figures per precision:
- peak RSS growth: the process's peak resident set (ru_maxrss) minus its resident set just before the step;
- kept for backward: the bytes of the distinct storages autograd saved for the backward pass, other than the
  parameters and the inputs (counted through `torch.autograd.graph.saved_tensors_hooks`); it does not depend on the
  allocator.
The decoders run in fp32 under autocast (systems._heads.fp32_recurrence) and cast their inputs once per sequence, so
the bf16 step should keep about what the fp32 step keeps; the target is a bf16 peak ≤ 1.5 × the fp32 peak. CPU
autocast takes the same code path as CUDA autocast here (the fp32 regions are device-agnostic).

The paper's size is B 32, L 1000, H 256 (the fp32 step takes minutes on a 2-core CPU); the default is a smaller L:

    pytest benchmarks/bench_mctn_memory.py --benchmark-only -s
    ABAW_MCTN_BENCH_SIZE=32,1000,256 pytest benchmarks/bench_mctn_memory.py --benchmark-only -s   # paper size
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

DIMS = {"clip-l14": 768, "wavlm-large": 1024}
DEFAULT_SIZE = "32,200,256"
PRECISIONS = ("fp32", "bf16")


def _resident_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure(precision: str, batch: int, frames: int, hidden: int) -> dict[str, float]:
    """One training step in this process; returns the peak RSS growth and the bytes kept for backward, in GB."""
    import gc
    import resource

    import torch
    from abaw_bench.systems._wen2024_models import CyclicTranslationNetwork

    torch.manual_seed(0)
    vision, audio = DIMS
    model = CyclicTranslationNetwork(vision, vision, audio, DIMS, hidden, dropout=0.2, loss_weight=0.5,
                                     outputs=2).train()
    inputs = {name: (torch.randn(batch, frames, dim), torch.full((batch,), frames)) for name, dim in DIMS.items()}
    labels = torch.rand(batch, frames, 2) * 2 - 1
    existing = {tensor.untyped_storage().data_ptr() for tensor in
                [*model.parameters(), labels, *(padded for padded, _ in inputs.values())]}
    storages: dict[int, int] = {}

    def keep(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in existing:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    gc.collect()
    before_kib = _resident_kib()
    dtype = {"bf16": torch.bfloat16, "fp32": None}[precision]
    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            predictions, auxiliary = model(inputs)
        loss = (predictions.float() - labels).square().mean() + sum(auxiliary.values())
    loss.backward()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_growth_gb": (peak_kib - before_kib) / 1e6, "saved_gb": sum(storages.values()) / 1e9,
            "loss": float(loss.detach())}


def _size() -> tuple[int, int, int]:
    text = os.environ.get("ABAW_MCTN_BENCH_SIZE", DEFAULT_SIZE)
    try:
        batch, frames, hidden = (int(part) for part in text.split(","))
    except ValueError as error:
        raise SystemExit(f"ABAW_MCTN_BENCH_SIZE={text!r}: expected B,L,H (three integers, e.g. 32,1000,256)") from error
    return batch, frames, hidden


def test_mctn_peak_memory_bf16_against_fp32(benchmark: Any) -> None:
    batch, frames, hidden = _size()
    found: dict[str, dict[str, float]] = {}

    def run_both() -> None:
        for precision in PRECISIONS:
            done = subprocess.run([sys.executable, __file__, precision, str(batch), str(frames), str(hidden)],
                                  check=True, capture_output=True, text=True)
            found[precision] = json.loads(done.stdout.strip().splitlines()[-1])

    benchmark.pedantic(run_both, rounds=1, iterations=1, warmup_rounds=0)
    print()
    for precision in PRECISIONS:
        figures = found[precision]
        print(f"wen2024 MCTN step, B {batch} × L {frames}, H {hidden}, {precision}: peak RSS growth "
              f"{figures['peak_growth_gb']:.2f} GB, kept for backward {figures['saved_gb']:.2f} GB")
    peak_ratio = found["bf16"]["peak_growth_gb"] / found["fp32"]["peak_growth_gb"]
    saved_ratio = found["bf16"]["saved_gb"] / found["fp32"]["saved_gb"]
    print(f"bf16 / fp32: peak {peak_ratio:.2f}×, kept for backward {saved_ratio:.2f}× (target: peak ≤ 1.5×)")
    assert all(abs(found[precision]["loss"]) < float("inf") for precision in PRECISIONS)


if __name__ == "__main__":
    chosen, *size = sys.argv[1:]
    print(json.dumps(measure(chosen, *(int(value) for value in size))))
