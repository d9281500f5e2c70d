"""Whisper transcription: batched windows (`WhisperEncoder.forward`) vs `whisper.transcribe` clip by clip.

Run: pytest benchmarks/bench_whisper.py --benchmark-only -s

16 clips with EMI-like lengths (lognormal, mean 6.9 s before a 29 s cap), the tiny preset (random weights, greedy
decoding of at most 16 tokens per window), one thread. Both paths give the same transcripts
(tests/encoders/test_gpu_paths.py checks it). Each round runs both paths back to back and times them in CPU seconds
of this process, so that other jobs on the machine change neither figure; the result is clips per CPU-second of each
and their ratio (median of 3 rounds).

What bounds the gain here: random weights never end a window with a final timestamp, so every clip goes on for
several windows, and a later window is conditioned on its own clip's text (a prompt of its own), so only the clips'
first windows share a batch. With real weights a short clip ends in its first window, and on a GPU a batch of windows
costs about what one window does; `benchmarks/gpu_check.py` measures the paper size there.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from abaw_bench.harness.encoders import load_encoder

CLIPS = 16
ROUNDS = 3


def test_batched_vs_clip_by_clip(benchmark: Any) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    sigma = 0.75
    seconds = np.minimum(rng.lognormal(np.log(6.9) - sigma**2 / 2, sigma, CLIPS), 29.0)
    waves = [torch.from_numpy((0.1 * rng.standard_normal(round(16000 * s))).astype(np.float32)) for s in seconds]
    encoder = load_encoder("whisper-large-v3", "tiny")
    batch = encoder.collate([encoder.prepare(wave) for wave in waves])
    times: dict[str, list[float]] = {"batched": [], "sequential": []}

    def both() -> None:
        with torch.no_grad():
            began = time.process_time()
            batched = encoder.forward(batch)
            times["batched"].append(time.process_time() - began)
            began = time.process_time()
            sequential = [encoder.transcribe_sequentially(wave) for wave in waves]
            times["sequential"].append(time.process_time() - began)
        assert batched == sequential

    try:
        benchmark.pedantic(both, rounds=ROUNDS, warmup_rounds=1)
    finally:
        torch.set_num_threads(threads)
    batched_rate = CLIPS / float(np.median(times["batched"][-ROUNDS:]))
    sequential_rate = CLIPS / float(np.median(times["sequential"][-ROUNDS:]))
    print(f"\nwhisper [tiny], {CLIPS} clips (mean {seconds.mean():.1f} s), 1 thread: batched {batched_rate:.2f} "
          f"clips/CPU-s vs whisper.transcribe clip by clip {sequential_rate:.2f} clips/CPU-s = "
          f"{batched_rate / sequential_rate:.2f}x")
