"""Forward-pass speed of every encoder's tiny preset (random weights, except minilm, which is the real model).

Run: pytest benchmarks/bench_encoders.py --benchmark-only -s
Each benchmark times `encoder.forward` on one already-collated batch of 4 items (audio 4 s, 8 face images, or a
32-token text) under torch.no_grad(); at the end the module prints items/s per encoder. These are smoke-level figures
for regressions of the code around the models; the paper-size throughput and MFU come from `abaw-bench profile`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from abaw_bench.harness.encoders import ENCODERS, load_encoder

BATCH = 4
RNG = np.random.default_rng(0)
MEDIA: dict[str, Any] = {
    "audio": (0.1 * RNG.standard_normal(4 * 16000)).astype(np.float32),
    "asr": (0.1 * RNG.standard_normal(4 * 16000)).astype(np.float32),
    "image": [RNG.integers(0, 256, (112, 112, 3), dtype=np.uint8) for _ in range(8)],
    "text": " ".join(["the quick brown fox jumps over the lazy dog"] * 3),
}


@pytest.fixture(scope="module")
def rates() -> Iterator[dict[str, float]]:
    found: dict[str, float] = {}
    yield found
    print()
    for name, items_per_s in found.items():
        print(f"{name} [tiny]: {items_per_s:.1f} items/s (batch {BATCH}, median)")


@pytest.mark.parametrize("name", ENCODERS.names())
def test_tiny_forward(name: str, benchmark: Any, rates: dict[str, float]) -> None:
    encoder = load_encoder(name, "tiny")
    media = MEDIA[encoder.info.modality]
    batch = encoder.collate([encoder.prepare(media) for _ in range(BATCH)])

    def forward() -> list[Any]:
        with torch.no_grad():
            return encoder.forward(batch)

    rounds = 2 if encoder.info.modality == "asr" else 5
    outputs = benchmark.pedantic(forward, rounds=rounds, warmup_rounds=1)
    assert len(outputs) == BATCH
    rates[name] = BATCH / benchmark.stats.stats.median
