"""hallmen2025 on BAH: frame-level inference throughput of the text+audio+vision head on cached features.

One centred sample per frame: a 20 s vision window of 400 ViT-H/14 rows (1280-d), a 12 s audio window of 600
wav2vec2-vad rows (1027-d) and one 1024-d [ATTENTION] text vector, through the paper-size head (LSTMs 1280 → 768 and
1027 → 1027, fusion 2819 → 1027 → 1), batches of 32, fp32 on the CPU, no grad. Prints frames per second.

    pytest benchmarks/bench_bah_head.py --benchmark-only -s
"""

from __future__ import annotations

import torch
from abaw_bench.harness.systems import get_system

BATCH = 32


def test_text_audio_vision_head_frames_per_second(benchmark) -> None:
    spec = get_system("hallmen2025")
    variant = spec.variant("bah", "text-audio-vision")
    dims = {"text": 1024, "vit-h14": 1280, "wav2vec2-vad": 1027}
    rows = {"text": 1, "vit-h14": 400, "wav2vec2-vad": 600}
    torch.manual_seed(0)
    model = spec.build_model("bah", variant, dims,
                             spec.knobs_for("bah", variant, "paper"), spec.hyper_for("bah", variant)).eval()
    inputs = {name: (torch.randn(BATCH, rows[name], dim), torch.full((BATCH,), rows[name])) for name, dim in
              dims.items() if name in variant.inputs}

    def forward() -> torch.Tensor:
        with torch.no_grad():
            return model(inputs)

    assert forward().shape == (BATCH, 1)
    benchmark.pedantic(forward, rounds=3, iterations=1, warmup_rounds=1)
    seconds = benchmark.stats.stats.mean
    print(f"\nhallmen2025 BAH text+audio+vision head: {BATCH / seconds:.1f} frames/s (batch {BATCH}, "
          f"{seconds:.2f} s per batch, {torch.get_num_threads()} threads)")
