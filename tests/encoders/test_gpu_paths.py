"""Encoder paths a GPU run takes, checked on the CPU: fine-tuning without layerdrop (so DDP never meets a skipped
layer), the wav2vec2 model compiling to one graph, and whisper's batched transcription reproducing
`whisper.transcribe` clip by clip."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from abaw_bench.harness.encoders import _audio, load_encoder


def _layer_calls(encoder, steps: int) -> list[int]:
    """How many of `steps` training forwards ran each transformer layer."""
    layers = encoder.model.wav2vec2.encoder.layers
    calls = [0] * len(layers)
    for index, layer in enumerate(layers):
        layer.register_forward_hook(lambda *_, index=index: calls.__setitem__(index, calls[index] + 1))
    batch = _audio.pad_batch([torch.randn(4000), torch.randn(6000)])
    encoder.model.train()
    torch.manual_seed(0)
    for _ in range(steps):
        encoder.model(batch["input_values"], attention_mask=batch["attention_mask"])
    return calls


def test_a_trainable_wav2vec2_runs_every_layer_at_every_step() -> None:
    frozen = load_encoder("wav2vec2-vad", "tiny")
    assert frozen.model.config.layerdrop == pytest.approx(0.1)
    assert min(_layer_calls(frozen, 10)) < 10  # layerdrop skipped a layer at least once: what breaks DDP
    trainable = load_encoder("wav2vec2-vad", "tiny", trainable=True)
    assert trainable.model.config.layerdrop == 0.0
    assert all(parameter.requires_grad for parameter in trainable.model.parameters())
    assert _layer_calls(trainable, 10) == [10, 10]
    assert trainable.fingerprint() == frozen.fingerprint()  # same weights and preprocessing


def test_wav2vec2_compiles_to_one_graph_after_eager_calls() -> None:
    from torch._dynamo.utils import counters

    model = load_encoder("wav2vec2-vad", "tiny").model
    values = torch.randn(2, 16000)
    with torch.no_grad():
        eager = model(values)  # fills the positional convolution's kernel cache, which dynamo cannot trace
        torch._dynamo.reset()
        counters.clear()
        compiled = torch.compile(model, backend="eager", dynamic=False)(values)
    assert sum(counters["graph_break"].values()) == 0 and counters["stats"]["unique_graphs"] == 1
    torch.testing.assert_close(compiled, eager)


def test_batched_whisper_transcribes_like_whisper_clip_by_clip() -> None:
    encoder = load_encoder("whisper-large-v3", "tiny")
    rng = np.random.default_rng(0)
    # Two clips that fit one window and one that needs two; random weights also make windows continue (7, 3 and 3
    # windows here), so later windows with their own prompts are covered too.
    waves = [torch.from_numpy((0.1 * rng.standard_normal(round(16000 * seconds))).astype(np.float32))
             for seconds in (1.0, 3.0, 30.2)]
    with torch.no_grad():
        batched = encoder.forward(encoder.collate([encoder.prepare(wave) for wave in waves]))
        one_by_one = [encoder.transcribe_sequentially(wave) for wave in waves]
    assert batched == one_by_one
    assert all(transcript["segments"] for transcript in batched)
