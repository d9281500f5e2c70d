"""hallmen2025 — "Semantic Matters: Multimodal Features for Affective Analysis" (ABAW 8; seed 002), EMI part.

One vector per modality, concatenated in the order text, vision, audio, → Linear(sum → 1027) → Tanh →
Linear(1027 → 6); no global mean vector, no output activation:
- vision: ViT-H/14 (ImageNet-21k) per face frame, mean over its 257 tokens (1280-d), first 400 frames →
  LSTM(1280 → 768, 2 layers), last valid state;
- audio: wav2vec2 + VAD frame features [T, 1027] (audio cut to 12 s) → LSTM(1027 → 1027, 2 layers), last valid state;
- text: the Whisper large-v3 transcript of the WHOLE clip → GTE (gte-en-mlm-base, 768-d) CLS embedding. The authors
  kept only Whisper's first segment; that was a shortcut, not the design, so the harness embeds the full transcript.
All three t+v+a: 768 + 768 + 1027 = 2563 → Linear(2563 → 1027).

The LSTMs return the true last valid state (harness.heads.LastValidLSTM); the original read it at a length estimated
as if every batch were padded to 12 s, i.e. too early for batches of shorter clips.

Preset-dependent inputs: "text" is a role (harness.systems "Input names"). Under "paper" it is gte-base on the
Whisper large-v3 transcript; under "tiny" (the demo) it is the real all-MiniLM-L6-v2 (384-d, loads offline) on the
dataset's own transcripts, because a tiny random text encoder or ASR could not carry the demo's text signal. The tiny
preset also shrinks the two hidden widths the paper fixes (vision LSTM 768, fusion 1027) to fit the tiny encoders.

BAH (chunked windows, gte-large, BCE) belongs to a later issue; it will add a "bah" entry to the same spec — its
own variants, hyper-parameters and `input_sources["bah"]["text"]` (gte-large) — and a branch in `build_model`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from abaw_bench.harness.systems import DATASET_TRANSCRIPT, SYSTEMS, Hyper, InputSource, SystemSpec, Variant

OUTPUTS = {"emi": 6}
TEXT, VISION, AUDIO = "text", "vit-h14", "wav2vec2-vad"
MODALITY_ORDER = (TEXT, VISION, AUDIO)  # the paper's concatenation order (t + v + a)
VISION_HIDDEN = {"paper": 768, "tiny": 32}  # vision LSTM width
FUSION_HIDDEN = {"paper": 1027, "tiny": 64}  # Linear(sum → this) → Tanh → Linear(this → K)

TEXT_SOURCE = InputSource(
    encoder={"paper": "gte-base", "tiny": "minilm"},
    transcript={"paper": "whisper-large-v3", "tiny": DATASET_TRANSCRIPT},
)


def _variant(name: str, row: str, modalities: tuple[str, ...], paper: dict[str, float | None], **extra: Any) -> Variant:
    return Variant(name, row, tuple(m for m in MODALITY_ORDER if m in modalities), paper=paper, **extra)


_VARIANTS = (
    _variant("vision", "Ours vision", (VISION,), {"val": 0.138}),
    _variant("audio", "Ours audio", (AUDIO,), {"val": 0.376}),
    _variant("text", "Ours text", (TEXT,), {"val": 0.523}),
    _variant("text-audio", "Ours text+audio", (TEXT, AUDIO), {"val": 0.520}),
    _variant("text-vision", "Ours text+vision", (TEXT, VISION), {"val": 0.529}),
    _variant("text-audio-vision", "Ours text+audio+vision", (TEXT, VISION, AUDIO), {"val": 0.522}),
    _variant(
        "trainval-text-vision",
        "Ours† text+vision",
        (TEXT, VISION),
        {"val": None, "test": None},
        train_splits=("train", "val"),
        reuse_best_epoch_of="text-vision",
    ),
)

HYPER = Hyper(
    lr=1e-4,
    weight_decay=0.01,
    epochs=30,
    batch_size=32,
    warmup_epochs=1.0,
    schedule="cosine",
    loss="mse",
    max_seconds=12.0,
    max_frames=400,
)


def build_model(task: str, variant: Variant, preset: str, input_dims: Mapping[str, int]) -> Any:
    """Text passes through as its single embedding row; vision and audio go through their LSTMs."""
    from abaw_bench.harness.heads import Branch, BranchFusionRegressor

    hidden = {TEXT: None, VISION: VISION_HIDDEN[preset], AUDIO: None}  # None: the LSTM is as wide as its input
    branches = [Branch(name, "mean" if name == TEXT else "lstm", hidden[name]) for name in variant.inputs]
    return BranchFusionRegressor(branches, input_dims, fusion_hidden=FUSION_HIDDEN[preset], outputs=OUTPUTS[task])


SPEC = SYSTEMS.register("hallmen2025")(
    SystemSpec(
        name="hallmen2025",
        paper="Hallmen et al. Semantic Matters: Multimodal Features for Affective Analysis. "
        "CVPR Workshops (ABAW 8), 2025.",
        tasks=("emi",),
        variants={"emi": {variant.name: variant for variant in _VARIANTS}},
        default_variant={"emi": "text-vision"},  # best on validation in the paper's Table 1 (.529)
        hyper={"emi": HYPER},
        build_model=build_model,
        description="Per-modality LSTM / text embedding, concatenated → MLP (text + ViT-H/14 + wav2vec2-vad).",
        input_sources={"emi": {TEXT: TEXT_SOURCE}},
    )
)
