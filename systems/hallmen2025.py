"""hallmen2025 — "Semantic Matters: Multimodal Features for Affective Analysis" (ABAW 8): EMI (Table 1), BAH (Table 2).

EMI (one sample per clip).

One vector per modality, concatenated in the order text, vision, audio, → Linear(sum → 1027) → Tanh →
Linear(1027 → 6); no global mean vector, no output activation:
- vision: ViT-H/14 (ImageNet-21k) per face frame, mean over its 257 tokens (1280-d), first 400 frames →
  LSTM(1280 → 768, 2 layers), last valid state;
- audio: wav2vec2 + VAD frame features [T, 1027] (audio cut to 12 s) → LSTM(1027 → 1027, 2 layers), last valid state;
- text: the Whisper large-v3 transcript of the WHOLE clip → GTE (gte-en-mlm-base, 768-d) CLS embedding. The authors
  kept only Whisper's first segment; that was a shortcut, not the design, so the harness embeds the full transcript.
All three t+v+a: 768 + 768 + 1027 = 2563 → Linear(2563 → 1027).

Training: lr 1e-4, cosine after a 1-epoch warm-up, MSE, 30 epochs, batch 32 (the paper); gradients clipped by value
at 100 (the authors' EMI script, train_hume.py; the paper does not say). As in that script, the table's rows fine-tune
GTE and wav2vec2 end to end with the head (`Variant.unfrozen`; one AdamW group at lr 1e-4 there, `encoder_lr` here,
no freeze); the ViT features stay frozen and cached, as the authors read them precomputed. Each such row has a
`-frozen` twin (e.g. `text-frozen`) on frozen, cached encoders: a cheap run, not the authors' setting, no paper figure.

The LSTMs return the true last valid state (systems._heads.LastValidLSTM); the original read it at a length estimated
as if every batch were padded to 12 s, i.e. too early for batches of shorter clips.

Preset-dependent inputs: "text" is a role (harness.systems "Input names"). Under "paper" it is gte-base on the
Whisper large-v3 transcript; under "tiny" (the demo) it is the real all-MiniLM-L6-v2 (384-d, loads offline) on the
dataset's own transcripts, because a tiny random text encoder or ASR could not carry the demo's text signal. The tiny
preset also shrinks the two hidden widths the paper fixes (vision LSTM 768, fusion 1027) to fit the tiny encoders.

BAH (one sample per label frame t: the engine's "centred" sampling, each modality's window centred on t).
- vision: 20 s of ViT-H/14 features resampled to 400 equidistant rows → LSTM(1280 → 768, 2 layers), last valid state;
- audio: the 12 s of 16 kHz waveform centred on t → wav2vec2 + VAD per 20 ms frame (the last hidden layer, 1024-d,
  and the VAD head on it, 3) → LSTM(1027 → 1027, 2 layers), last valid state (the `-frozen` twins instead read the
  12 s of rows around t from features of each video's whole track, encoded once and cached);
- text: the words whose timestamps fall within 20 s around t, with an `[ATTENTION]` token inserted at t, max 128
  tokens; the vector is the encoder's last hidden state at that token (harness/features/text_windows.py) —
  gte-large-en-v1.5 (1024-d) under "paper", the real all-MiniLM-L6-v2 (384-d) under "tiny". Word times come from the
  dataset's transcript (the release ships Whisper chunks) or, for items without one, Whisper large-v3's words.
t+v+a: 1024 + 768 + 1027 = 2819 → Linear(2819 → 1027) → Tanh → Linear(1027 → 1), one logit (the width is the task's
`output_width`), BCE with logits. lr 7.5e-6, cosine after a 1-epoch warm-up, 10 epochs (the paper; the authors' code
ran 30), batch 32, "balanced sampling per epoch", decision threshold swept on validation over 0.40–0.75
(step 0.001) after every epoch and the epoch selected by its validation weighted frame F1 at that threshold (the
authors' evaluate()), the best epoch's threshold fixed for test; gradients clipped by value at 100 (the
authors' code; the paper does not say).

The paper's "balanced sampling per epoch" is the authors' segment scheme, `epoch_sampling="balanced-segments"`
(harness/train/sampler.py): each epoch takes every label-constant segment of the minority class and as many of the
majority class, one frame per segment drawn within 12–88 % of it (ABAW-8 train: 2 × 537 segments, ≈ 34 steps of 32).
`--hyper epoch_sampling=balanced-frames` draws per-frame class-balanced epochs instead (as many samples as labelled
frames, ≈ 270× more steps at the same lr and schedule, transition frames included). The authors' scheduler counted
its steps before the first balanced draw (over all segments, ≈ 46 steps per epoch), so their cosine never reached
zero; here the schedule spans the epochs actually drawn.

Where the BAH code the authors published differs, and what the harness does instead:
- Windows stay centred. The original vision window fell back to the whole video (zero-padded to 400 rows) whenever a
  video had fewer than 400 feature frames, and otherwise clipped [t − 10 s, t + 10 s] to the video and stretched the
  rest over 400 rows, so near a video's start (or end) the window was neither centred on t nor at its time scale.
  Here a window keeps its centre and scale at the edges: the rows outside the video are absent (a shorter, masked
  sequence), as the authors' audio window already was (the waveform cut to the track, not stretched).
- The text window's end cut kept the wrong fraction of a chunk's words (the fraction lying after the window's end, as
  a count of words to keep). Here each word is kept or dropped by its own timestamp at both ends, and the token goes
  between the last word at or before t and the first after it.
- The committed configuration trained on train+val while selecting its checkpoint on val, so its validation F1 had
  seen the validation data. Here the train-only rows select on validation, and the † row trains on train+val for the
  best epoch count of the train-only text+vision run, never selecting on validation.
- Fine-tuning. As the authors did, the table's rows train GTE and wav2vec2 with the head, at the authors' lr_text and
  lr_audio (`encoder_lr` 7.5e-6, equal to the head's and the audio LSTM's lr: their four AdamW groups share one lr,
  which the harness's two groups reproduce), frozen (no gradient, eval mode) from their freeze epochs 30 on
  (`encoder_freeze_epoch`, the same for both encoders as in their configuration; never reached in the paper's 10
  epochs). GTE: each sample carries its window's token ids (harness/features/text_windows.py, `build_token_windows`),
  the `[ATTENTION]` token's embedding row training with the encoder; the marker's row starts at the vocabulary mean
  (their `resize_token_embeddings` drew it at random). wav2vec2: each sample carries its 12 s waveform window, cut from
  its video's audio track decoded once at 16 kHz and memory-mapped (harness/features/waveforms.py), normalised per
  window (the feature extractor's do_normalize); near a video's edges the window is cut to the track and shorter, as
  in their slice, and the batch pads it on the right (harness/train/windows.py, `WaveformWindows`). The encoder's
  last hidden layer and its VAD head feed the LSTM, as their `EmotionModel` output did. Still different (the audio
  rows' notes say so): they augmented the training waveforms (Gaussian noise, time stretch, pitch shift, shift), and
  their encoder ran without an attention mask, so a short window attended to its batch's zero padding. The
  `-frozen` twins (e.g. `text-frozen`) freeze and cache every encoder, so the marker's row stays at the mean and the
  audio features come from the whole track: cheap runs, not the authors' setting.
- The authors concatenated audio, text, vision; the paper's order text, vision, audio is used here (a permutation of
  the first Linear's inputs: same size). They trained under fp16 with a GradScaler; the harness uses bf16 where the GPU
  has it (fp16 with a GradScaler otherwise).
- Their code assumed 24 fps for every video and validated every 80th frame; here each video's own rate, read from its
  container, places its windows, and every frame is validated.

On the demo dataset the videos last 3–8 s, so a 20 s text window holds a video's whole transcript at every frame and
only the token's position tells frames apart: with the tests' short training on the frozen, cached text (then on
per-frame epochs), text+audio+vision reached weighted F1 .714 against .711 for a shuffled-label control, and .830
against .675 with a 2 s text window sized to the demo (.818 against .704 on segment-drawn epochs,
tests/systems/test_frame_demo.py):
    abaw-bench run --system hallmen2025 --task bah \
        --hyper 'centred_seconds={"text": 2, "vit-h14": 20, "wav2vec2-vad": 12}'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from abaw_bench.harness.systems import (
    DATASET_TRANSCRIPT,
    DROPOUT,
    SYSTEMS,
    Hyper,
    InputSource,
    ModelKnobs,
    Range,
    SystemSpec,
    Variant,
    knob,
)

TEXT, VISION, AUDIO = "text", "vit-h14", "wav2vec2-vad"
MODALITY_ORDER = (TEXT, VISION, AUDIO)  # the paper's concatenation order (t + v + a)

TEXT_SOURCE = InputSource(
    encoder={"paper": "gte-base", "tiny": "minilm"},
    transcript={"paper": "whisper-large-v3", "tiny": DATASET_TRANSCRIPT},
)


BAH_TEXT_SOURCE = InputSource(
    encoder={"paper": "gte-large", "tiny": "minilm"},
    transcript={"paper": "whisper-large-v3", "tiny": DATASET_TRANSCRIPT},
)


ENCODER_NAMES = {TEXT: "the text encoder (GTE)", AUDIO: "wav2vec2"}  # for the frozen twins' notes
FROZEN_SUFFIX = "-frozen"  # a row's cheap twin: every encoder frozen and its features cached


def _variant(name: str, row: str, modalities: tuple[str, ...], paper: dict[str, float | None],
             fine_tuned: tuple[str, ...], **extra: Any) -> Variant:
    inputs = tuple(m for m in MODALITY_ORDER if m in modalities)
    return Variant(name, row, inputs, unfrozen=tuple(m for m in inputs if m in fine_tuned), paper=paper, **extra)


def _frozen_twin(variant: Variant) -> Variant:
    """The row on frozen, cached encoders (features extracted once, reused by every run): a cheap run, not the
    authors' setting, so it carries no paper figure."""
    reused = variant.reuse_best_epoch_of
    return replace(variant, name=variant.name + FROZEN_SUFFIX, row=f"{variant.row} (encoders frozen)", unfrozen=(),
                   paper={}, reuse_best_epoch_of=reused + FROZEN_SUFFIX if reused else None, demo={},
                   notes=(*variant.notes, "every encoder frozen and its features cached (a cheap run; the authors "
                          f"fine-tuned {' and '.join(ENCODER_NAMES[name] for name in variant.unfrozen)} with the head, "
                          f"as the row {variant.name!r} does)"))


def _table_rows(figures: dict[str, float], trainval_paper: dict[str, float | None], fine_tuned: tuple[str, ...],
                notes: Mapping[str, tuple[str, ...]],
                fine_tuned_demo: Mapping[str, Mapping[str, Any]]) -> tuple[Variant, ...]:
    """The trained "Ours" rows of a results table: six modality sets and text+vision on train+val (†), with the
    `fine_tuned` encoders among their inputs trained with the head, each followed by its frozen twin when it has one.
    `notes`: per modality, what a row reading it must say; `fine_tuned_demo`: per fine-tuned modality, the demo
    schedule of a row that fine-tunes it (a row fine-tuning several takes their union, the earlier modality of
    MODALITY_ORDER winning a shared key; its frozen twin takes the system's)."""
    def row(name: str, label: str, modalities: tuple[str, ...], paper: dict[str, float | None],
            **extra: Any) -> Variant:
        said = tuple(note for modality in MODALITY_ORDER if modality in modalities for note in notes.get(modality, ()))
        variant = _variant(name, label, modalities, paper, fine_tuned, notes=said, **extra)
        demo = {key: value for name in reversed(variant.unfrozen) for key, value in fine_tuned_demo[name].items()}
        return replace(variant, demo=demo) if variant.unfrozen else variant

    rows = (
        row("vision", "Ours vision", (VISION,), {"val": figures["vision"]}),
        row("audio", "Ours audio", (AUDIO,), {"val": figures["audio"]}),
        row("text", "Ours text", (TEXT,), {"val": figures["text"]}),
        row("text-audio", "Ours text+audio", (TEXT, AUDIO), {"val": figures["text-audio"]}),
        row("text-vision", "Ours text+vision", (TEXT, VISION), {"val": figures["text-vision"]}),
        row("text-audio-vision", "Ours text+audio+vision", (TEXT, VISION, AUDIO),
            {"val": figures["text-audio-vision"]}),
        row("trainval-text-vision", "Ours† text+vision", (TEXT, VISION), trainval_paper, train_splits=("train", "val"),
            reuse_best_epoch_of="text-vision"),
    )
    return tuple(each for variant in rows for each in ((variant, _frozen_twin(variant)) if variant.unfrozen
                                                      else (variant,)))


# Table 1 (EMI): validation mean Pearson r. Table 2 (BAH): validation weighted frame F1. On EMI the authors fine-tuned
# GTE and wav2vec2 with the head (train_hume.py); on BAH GTE with the [ATTENTION] token's embedding, and wav2vec2 on
# each sample's 12 s waveform (train_abaw.py).
BAH_AUDIO_NOTES = (
    "the authors augmented the training waveforms (audiomentations: Gaussian noise 0.01-0.15, time stretch 0.95-1.05, "
    "pitch shift of up to 2 semitones, shift of up to 10 %, each with p = 0.5); the harness does not: its frame loader "
    "has no waveform augmentation stage yet",
    "the authors' wav2vec2 ran without an attention mask, so a window shorter than its batch's longest (near a video's "
    "edge) attended to the batch's zero padding; here the padding is masked, so a window's features do not depend on "
    "its batch",
)
_VARIANTS = _table_rows({"vision": 0.138, "audio": 0.376, "text": 0.523, "text-audio": 0.520, "text-vision": 0.529,
                         "text-audio-vision": 0.522}, {"val": None, "test": None}, (TEXT, AUDIO), {},
                        {TEXT: {"epochs": 3}, AUDIO: {"epochs": 3}})
_BAH_VARIANTS = _table_rows({"vision": 0.674, "audio": 0.662, "text": 0.718, "text-audio": 0.696, "text-vision": 0.725,
                             "text-audio-vision": 0.720}, {"val": None}, (TEXT, AUDIO), {AUDIO: BAH_AUDIO_NOTES},
                            {TEXT: {"epochs": 4, "encoder_lr": 1e-4}, AUDIO: {"encoder_lr": 1e-4}})

# EMI training as the paper states it: lr 1e-4 with a cosine schedule, MSE, 30 epochs, batch 32, audio cut to 12 s,
# the first 400 face frames. Marked below: what the paper does not state, and where it comes from.
HYPER = Hyper(
    lr=1e-4,
    weight_decay=0.01,  # not in the paper: the harness's choice (torch's AdamW default)
    epochs=30,
    batch_size=32,
    warmup_epochs=1.0,  # not in the paper: the harness's choice (one epoch, as hallmen2024 states)
    schedule="cosine",
    loss="mse",
    max_seconds=12.0,
    max_frames=400,
    grad_clip_value=100.0,  # not in the paper: the authors' EMI script (train_hume.py, clip_grad = 100, by value)
    encoder_lr=1e-4,  # the fine-tuned GTE and wav2vec2: the authors' one AdamW group, lr 1e-4 for every parameter
)

BAH_HYPER = Hyper(
    lr=7.5e-6,
    weight_decay=0.01,
    epochs=10,  # the paper; the authors' code ran 30
    batch_size=32,
    warmup_epochs=1.0,
    schedule="cosine",
    loss="bce",
    grad_clip_value=100.0,  # the authors' code
    # the fine-tuned GTE (with its [ATTENTION] row) and wav2vec2: the authors' lr_text and lr_audio, equal to the head's
    encoder_lr=7.5e-6,
    # the authors' freeze_epoch_text_model and freeze_epoch_audio_model (both 30): never reached in 10 epochs
    encoder_freeze_epoch=30,
    sampling="centred",
    centred_seconds={TEXT: 20.0, VISION: 20.0, AUDIO: 12.0},
    centred_rows={VISION: 400},
    frame_step=1,  # every frame, also on the demo (3,583 frames, 531 distinct text windows)
    epoch_sampling="balanced-segments",  # the authors' "balanced sampling per epoch" (module docstring)
    threshold_sweep=(0.40, 0.75, 0.001),
    max_seconds=None,  # windows are cut from each video's whole track (a fine-tuned wav2vec2 reads its 12 s window)
    max_frames=None,
)


# Demo schedules (SystemSpec.demo; the embedded demo only). EMI: 5 epochs of batch 16 at lr 5e-3 (the tiny
# random-weight encoders' features vary little from clip to clip, so at the paper's lr 1e-4 the head barely moves in a
# handful of epochs); the rows that fine-tune GTE and wav2vec2: 3 epochs. BAH: lr 1e-3 for 15 epochs of batch 8 (an
# epoch is the rows' segment draw, 2 × 15 of the demo's 42 training segments, i.e. 4 steps), one centred sample every
# 24th frame (the frames in between take the nearest decision), the vision window resampled to 100 rows (paper: 400)
# so that its LSTM runs a quarter of the steps, and a 0.01 threshold step (paper: 0.001). The text window spans 2 s
# (paper: 20 s): the demo's videos last 3-8 s, so a 20 s window holds the whole transcript at every frame and only the
# marker's position tells frames apart (measured: text+audio+vision .714 vs a shuffled-label control of .711 at 20 s,
# .830 vs .675 at 2 s); the audio window 4 s (paper: 12 s; audio alone .723 vs .675 at 4 s, .761 vs .688 at 12 s). The
# rows that fine-tune GTE: 4 epochs, the encoder at lr 1e-4 (the paper's 7.5e-6 moves neither head nor MiniLM in a
# handful of steps; text row: .817 vs .675); the row that fine-tunes wav2vec2 alone (audio): the 15 epochs, the
# encoder at lr 1e-4 (.735 vs .687; with 4 epochs .688 vs .675, too few for the tiny random encoder); a row that
# fine-tunes both takes GTE's 4 epochs (text-audio: .842 vs .675).
EMI_DEMO = {"epochs": 5, "batch_size": 16, "lr": 5e-3}
BAH_DEMO = {"epochs": 15, "lr": 1e-3, "batch_size": 8, "frame_step": 24, "centred_rows": {VISION: 100},
            "threshold_sweep": (0.40, 0.75, 0.01), "centred_seconds": {TEXT: 2.0, VISION: 20.0, AUDIO: 4.0}}


@dataclass(frozen=True)
class Hallmen2025Knobs(ModelKnobs):
    """The head's settings (EMI and BAH alike): the paper's widths, the tiny encoders' narrower ones under "tiny"."""

    vision_hidden: int = knob(768, Range(1, 2**16), tiny=32)  # the vision LSTM's width
    audio_hidden: int | None = knob(None, Range(1, 2**16))  # the audio LSTM's width; None: its input's (1027)
    lstm_layers: int = knob(2, Range(1, 16))
    fusion_hidden: int = knob(1027, Range(1, 2**16), tiny=64)  # Linear(sum → this) → Tanh → Linear(this → K)
    dropout: float = knob(0.0, DROPOUT)  # between the LSTM layers and before each Linear of the fusion MLP


def build_model(task: str, variant: Variant, input_dims: Mapping[str, int], knobs: Hallmen2025Knobs,
                hyper: Hyper) -> Any:
    """Text passes through as its single vector ([B, 1, D]: the clip's embedding or the frame's window); vision and
    audio go through their LSTMs; the output width is the task's (EMI 6 values, BAH 1 logit)."""
    from abaw_bench.harness.tasks import get_task
    from abaw_bench.systems._heads import Branch, BranchFusionRegressor

    hidden = {TEXT: None, VISION: knobs.vision_hidden, AUDIO: knobs.audio_hidden}
    branches = [Branch(name, "mean" if name == TEXT else "lstm", hidden[name], knobs.lstm_layers)
                for name in variant.inputs]
    return BranchFusionRegressor(branches, input_dims, fusion_hidden=knobs.fusion_hidden,
                                 outputs=get_task(task).output_width, dropout=knobs.dropout)


SPEC = SYSTEMS.register("hallmen2025")(
    SystemSpec(
        name="hallmen2025",
        paper="Hallmen et al. Semantic Matters: Multimodal Features for Affective Analysis. "
        "CVPR Workshops (ABAW 8), 2025.",
        tasks=("emi", "bah"),
        variants={"emi": {variant.name: variant for variant in _VARIANTS},
                  "bah": {variant.name: variant for variant in _BAH_VARIANTS}},
        default_variant={"emi": "text-vision", "bah": "text-vision"},  # best on validation: Table 1 .529, Table 2 .725
        hyper={"emi": HYPER, "bah": BAH_HYPER},
        knobs=dict.fromkeys(("emi", "bah"), Hallmen2025Knobs()),
        build_model=build_model,
        description="Per-modality LSTM / text embedding, concatenated → MLP (text + ViT-H/14 + wav2vec2-vad).",
        input_sources={"emi": {TEXT: TEXT_SOURCE}, "bah": {TEXT: BAH_TEXT_SOURCE}},
        demo={"emi": EMI_DEMO, "bah": BAH_DEMO},
    )
)
