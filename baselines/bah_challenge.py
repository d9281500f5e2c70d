"""The BAH challenge baseline as a trainable system "bah-challenge": per-modality temporal convolutional networks and
leader-follower attention fusion, per frame.

This is the ABAW-8 BAH baseline that Hallmen et al. (Semantic Matters: Multimodal Features for Affective Analysis,
CVPR Workshops (ABAW 8), 2025) report as "Baseline" in Table 2 (validation F1 .700), the variant "vision-audio-text"
(their `default_config.py` trains on "video+vggish+bert"), as the BAH dataset authors publish it
(github.com/sbelharbi/bah-dataset: `models/model.py` LeaderFollowerAttentionNetwork,
`models/temporal_convolutional_model.py`, `configs.py`, `default_config.py`, `trainer.py`).

Architecture, as their code builds it (class `LFAN` in `models/model.py`, the model `default_config.py` names; its
`num_heads` 2 and `modal_dim` 32 are read by that class only, not by the older `LeaderFollowerAttentionNetwork` beside
it, which has one head, no output projection and no BatchNorm):
- every input feature standardised: the authors z-score each feature with the training set's mean and std
  (`calc_mean_std`); here a BatchNorm1d without affine parameters per input, whose running statistics over the
  training windows stand in for the training set's (no trainable parameter: the parameter count stays theirs; in
  training mode a batch's padding frames enter its statistics);
- per modality a TemporalConvNet over the frame sequence: 4 TemporalBlocks with dilations 1, 2, 4, 8, kernel 5,
  dropout 0.1; each block = two weight-normalised causal Conv1d (left padding (k − 1)·d, chomped) with LeakyReLU and
  dropout, a 1×1 Conv1d residual where the width changes, LeakyReLU on the sum. Initialisation as it takes effect in
  their code: Conv1d's default for the two weight-normed convolutions (their xavier_uniform_ on those weights is
  applied after weight_norm, which recomputes the weights from its own parameters at the first forward), Xavier-uniform
  (gain √2) for the residual. Channels (`configs.py`, "tcn.channels"): vision 512 → [256, 256, 128, 128], audio 128 →
  [64, 64, 32, 32], text 768 → [256, 256, 128, 128]; then a BatchNorm1d over the TCN's output channels (`self.bn`;
  in training mode a batch's padding frames enter its statistics, as they do in theirs);
- leader-follower attention per frame (`MultimodalTransformerEncoder`): per modality qkv = Linear(C_m → 3·32)
  (Xavier-uniform, zero bias), split into 2 heads of 16 and within each head into q, k, v; over the M modalities,
  per head, softmax(q kᵀ / √16) v + v; the heads and modalities flattened (32·M) → Linear(32·M → 32·M) (Xavier, zero
  bias) → dropout 0.1 → LayerNorm(32·M): the follower;
- the leader (the first modality: vision when present) is concatenated with the follower vector:
  Linear(C_leader + 32·M → 2), two class logits per frame.

Recipe (`default_config.py`, whose model is LFAN; `instantiators.py`, `base/scheduler.py`, `trainer.py`), which every
row runs: windows of 300 frames with hop 200 (the engine's "windows" sampling; windows past a video's end are padded
and masked; the causal TCN keeps the padding from leaking into the valid frames), inferred over windows of 300 with the
same hop 200, overlaps averaged (`inference_forward_windows`); batch 16; frame-level supervision (`video_fr_sup`); no
class weighting; two class logits per frame with cross-entropy (their trainer asserts `ncls` = 2 outputs and feeds
long class targets to its criterion, which their missing `experiment.py` builds; `bah_metrics.py` takes the softmax's
class-1 column as the positive probability) and the decision at p1 > 0.5 (their argmax); SGD with lr 1e-3, Nesterov
momentum 0.9, no dampening, weight decay 1e-4 (their `get_optimizer_scheduler` passes no lr to SGD, which then runs
at torch's default 1e-3, their configured `opt__lr` too); the step schedule MyStepLR, lr = max(1e-3 · 0.1^⌊epoch /
40⌋, 1e-7), stepped after every training epoch; 100 epochs, every one of them trained (their frame-level loop
`optimize` has no early stopping: the `early_stopping` 50 of their config is read only by the regression loop `fit`),
the epoch with the best validation average precision of the positive class kept (`master_metric` AP_POS, the
organisers' AP over the thresholds 0-0.999).

Where the harness departs from that code, and why:
- Ties in the selected AP: their loop keeps the later epoch (`>=`), the engine the earlier one (a strict improvement).
- Overlapping inference windows are averaged as probabilities, theirs as logits; their last window is aligned to the
  video's end and a video shorter than 300 frames is one shorter window, where the engine pads and masks (the causal
  TCN gives the valid frames the same outputs either way; only the overlaps' averaging differs).
- A frame whose two logits tie exactly (p1 = 0.5) is decided positive here (p1 >= 0.5), negative by their argmax.
- Encoders: the authors' features are their IR-ResNet-50 face model (512-d, `res50_ir_0.887.pth`), VGGish
  (128-d, the torchvggish checkpoint) and BERT-base-uncased wordpiece features (768-d). The harness encoders
  "ir-resnet50", "vggish" and "bert-tokens" build the three and load those checkpoints (bert-base-uncased from its hub
  repository); the VGGish hop is fixed at 40 ms where the authors hopped by each video's frame (the engine aligns
  audio rows to the label frames by interpolation). hallmen2025 describes this baseline's audio as wav2vec2; the
  dataset's code, which produced it, uses VGGish, and so does this system. At the paper preset the head's input
  widths are the authors', so every row has exactly their module's parameter count (a test checks it against the
  module's formula).
- Text: as theirs, one 768-d row per wordpiece of the video's whole transcript (sentence by sentence through
  BERT-base-uncased, max 256 tokens, a token's vector the sum of the last 4 hidden layers, [CLS]/[SEP] dropped;
  `abaw5_pre_processing/base/speech.py` extract_word_embedding), spread over the video's label frames without any
  timing (`align_word_embedding_new`: the frames cut into as many contiguous, near-equal blocks as there are
  wordpieces, block j taking wordpiece j, wordpieces beyond the frame count dropped; the engine's "spread"
  alignment, harness/train/windows.py). What still differs (harness/encoders/_bert_tokens.py): sentences are cut
  after ".", "!" and "?" where they use NLTK's Punkt; a sentence over 256 tokens is truncated where their code
  stops; a transcript without any wordpiece is one zero row (zeros on every frame, their value for a video without
  word embeddings). The transcript is the text of the release's `transcription/<video>.json` (the harness's
  "transcript" media, harness/tasks/bah.py), where their preprocessing reads the transcript field of the split
  files' lines; the rows that fuse text carry a note saying so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from abaw_bench.harness.systems import DROPOUT, SYSTEMS, Hyper, ModelKnobs, Range, SystemSpec, Variant, knob

# a variant lists vision first, as the authors' "video+vggish+bert" does: the first input leads
VISION, AUDIO, TEXT = "ir-resnet50", "vggish", "bert-tokens"
WIDTH = Range(1, 2**16)


@dataclass(frozen=True)
class BahChallengeKnobs(ModelKnobs):
    """LFAN's settings as the authors' configuration gives them (default_config.py, configs.py); narrower widths for
    the tiny encoders under "tiny"."""

    attention_dim: int = knob(32, WIDTH, tiny=8)  # Q/K/V width per modality ("modal_dim")
    heads: int = knob(2, Range(1, 256))  # attention heads over the modalities ("num_heads")
    kernel_size: int = knob(5, Range(2, 64))  # the TCN's causal convolutions
    # TCN channels per level and modality ("tcn.channels"); the levels' dilations are 1, 2, 4, ...
    vision_channels: tuple[int, ...] = knob((256, 256, 128, 128), WIDTH, tiny=(32, 32, 16, 16))
    audio_channels: tuple[int, ...] = knob((64, 64, 32, 32), WIDTH, tiny=(16, 16, 8, 8))
    text_channels: tuple[int, ...] = knob((256, 256, 128, 128), WIDTH, tiny=(32, 32, 16, 16))
    dropout: float = knob(0.1, DROPOUT)  # the TCN blocks' and the follower's

    def check(self) -> None:
        if self.attention_dim % self.heads:
            raise ValueError(f"BahChallengeKnobs.attention_dim {self.attention_dim}: expected a multiple of heads "
                             f"{self.heads}")

    def channels(self) -> dict[str, tuple[int, ...]]:
        """Input name -> its TCN's channels per level."""
        return {VISION: tuple(self.vision_channels), AUDIO: tuple(self.audio_channels),
                TEXT: tuple(self.text_channels)}

AUTHORS_INPUT_DIMS = {"vision": 512, "vggish": 128, "bert": 768}  # their encoders' widths (configs.py)
AUTHORS_CHANNELS = {"vision": (256, 256, 128, 128), "vggish": (64, 64, 32, 32), "bert": (256, 256, 128, 128)}
AUTHORS_NAMES = {VISION: "vision", AUDIO: "vggish", TEXT: "bert"}  # the harness encoder behind each of theirs

TEXT_NOTE = ("text: the transcript is read from transcription/<video>.json (the authors: the split files' transcript "
             "field) and cut into sentences after '.', '!' and '?' (the authors: NLTK's Punkt); a sentence over 256 "
             "tokens is truncated where their code stops (baselines/bah_challenge.py, "
             "harness/encoders/_bert_tokens.py)")

_VARIANTS = (
    Variant("vision-audio-text", "Baseline", (VISION, AUDIO, TEXT), paper={"val": 0.700},
            notes=(TEXT_NOTE,)),
    Variant("vision-audio", "LFAN vision + audio (the authors' code; not in the paper)", (VISION, AUDIO)),
    Variant("vision", "LFAN vision only (the authors' code; not in the paper)", (VISION,)),
    Variant("audio", "LFAN audio only (the authors' code; not in the paper)", (AUDIO,)),
    Variant("text", "LFAN text only (the authors' code; not in the paper)", (TEXT,),
            notes=(TEXT_NOTE,)),
)

# The authors' recipe (default_config.py, instantiators.py, trainer.py; see the module docstring).
HYPER = Hyper(
    lr=1e-3,
    weight_decay=1e-4,
    optimizer="sgd",
    momentum=0.9,
    nesterov=True,
    schedule="step",
    step_size=40,
    step_gamma=0.1,
    step_min_lr=1e-7,
    warmup_epochs=0.0,
    epochs=100,
    batch_size=16,
    loss="ce",
    selection="average_precision",
    early_stopping_patience=None,  # their `optimize` trains every epoch and keeps the best
    sampling="windows",
    window=300,
    stride=200,
    inference_stride=200,  # their inference windows hop as the training ones
)


def build_model(task: str, variant: Variant, input_dims: Mapping[str, int], knobs: BahChallengeKnobs,
                hyper: Hyper) -> Any:
    """The LFAN head over the variant's inputs, the first one leading; per frame two class logits under loss "ce"
    (the authors' head, [B, L, 2]), else the task's one logit ([B, L, 1])."""
    from abaw_bench.harness.tasks import get_task

    facts = get_task(task)
    outputs = len(facts.class_names) if hyper.loss == "ce" and facts.class_names else facts.output_width
    channels = knobs.channels()
    return build_lfan(variant.inputs, input_dims, {name: channels[name] for name in variant.inputs},
                      knobs.attention_dim, outputs, heads=knobs.heads, kernel_size=knobs.kernel_size,
                      dropout=knobs.dropout)


def build_lfan(names: Sequence[str], input_dims: Mapping[str, int], channels: Mapping[str, Sequence[int]],
               attention_dim: int, outputs: int, *, heads: int, kernel_size: int, dropout: float) -> Any:
    """A LeaderFollowerAttention module (torch is imported here, never at module import)."""
    return _torch_classes()["LeaderFollowerAttention"](names, input_dims, channels, attention_dim, outputs, heads,
                                                       kernel_size, dropout)


def _torch_classes() -> dict[str, type]:
    import torch
    from torch import nn
    from torch.nn.utils.parametrizations import weight_norm

    class TemporalBlock(nn.Module):
        """Two dilated causal weight-normed convolutions with a residual, as the authors' TemporalBlock."""

        def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int,
                     dropout: float) -> None:
            super().__init__()
            self.trim = (kernel_size - 1) * dilation
            # Conv1d's own initialisation: the authors' xavier_uniform_ on these two weights comes after their
            # weight_norm and is overwritten by it at the first forward (the 1×1 residual's xavier does hold)
            self.conv1 = weight_norm(nn.Conv1d(in_channels, out_channels, kernel_size, padding=self.trim,
                                               dilation=dilation))
            self.conv2 = weight_norm(nn.Conv1d(out_channels, out_channels, kernel_size, padding=self.trim,
                                               dilation=dilation))
            self.activation = nn.LeakyReLU()
            self.dropout = nn.Dropout(dropout)
            self.downsample = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else None
            if self.downsample is not None:
                nn.init.xavier_uniform_(self.downsample.weight, gain=math.sqrt(2))

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, L]
            out = self.dropout(self.activation(self.conv1(x)[:, :, :-self.trim]))  # the chomp keeps it causal
            out = self.dropout(self.activation(self.conv2(out)[:, :, :-self.trim]))
            residual = x if self.downsample is None else self.downsample(x)
            return self.activation(out + residual)

    class LeaderFollowerAttention(nn.Module):
        """The authors' LFAN: per-modality TCN + BatchNorm, multi-head attention across the modalities at every frame
        (their MultimodalMultiheadAttention in a MultiModalEncoderBlock), per-frame logits from leader + follower."""

        def __init__(self, names: Sequence[str], input_dims: Mapping[str, int],
                     channels: Mapping[str, Sequence[int]], attention_dim: int, outputs: int, heads: int,
                     kernel_size: int, dropout: float) -> None:
            super().__init__()
            if attention_dim % heads:
                raise ValueError(f"LFAN attention width {attention_dim} must be a multiple of its {heads} heads")
            self.names = tuple(names)
            self.attention_dim, self.heads = attention_dim, heads
            self.temporal, self.standardise = nn.ModuleDict(), nn.ModuleDict()
            self.temporal_norm, self.qkv = nn.ModuleDict(), nn.ModuleDict()
            for index, name in enumerate(self.names):
                widths = (input_dims[name], *channels[name])
                self.standardise[str(index)] = nn.BatchNorm1d(input_dims[name], affine=False)
                blocks = (TemporalBlock(widths[level], widths[level + 1], kernel_size, 2 ** level, dropout)
                          for level in range(len(channels[name])))
                self.temporal[str(index)] = nn.Sequential(*blocks)
                self.temporal_norm[str(index)] = nn.BatchNorm1d(channels[name][-1])
                self.qkv[str(index)] = nn.Linear(channels[name][-1], 3 * attention_dim)
                nn.init.xavier_uniform_(self.qkv[str(index)].weight)
                nn.init.zeros_(self.qkv[str(index)].bias)
            fused = attention_dim * len(self.names)
            self.output = nn.Linear(fused, fused)
            nn.init.xavier_uniform_(self.output.weight)
            nn.init.zeros_(self.output.bias)
            self.fusion_dropout = nn.Dropout(dropout)
            self.norm = nn.LayerNorm(fused)
            self.regressor = nn.Linear(channels[self.names[0]][-1] + fused, outputs)

        def forward(self, inputs: Mapping[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
            sequences = []
            for index, name in enumerate(self.names):
                padded, _ = inputs[name]  # [B, L, D]; padding after a video's end cannot reach earlier frames
                standardised = self.standardise[str(index)](padded.transpose(1, 2))  # [B, D, L]
                temporal = self.temporal_norm[str(index)](self.temporal[str(index)](standardised))
                sequences.append(temporal.transpose(1, 2))  # [B, L, C]
            batch, length = sequences[0].shape[:2]
            head_dim = self.attention_dim // self.heads
            # per modality: its 3·a projection split into heads first, then into q, k, v within each head (theirs)
            per_head = [self.qkv[str(i)](x).reshape(batch, length, self.heads, 1, 3 * head_dim) for i, x in
                        enumerate(sequences)]
            queries, keys, values = torch.cat(per_head, dim=-2).chunk(3, dim=-1)  # [B, L, H, M, a/H] each
            scores = torch.softmax(queries @ keys.transpose(-1, -2) / math.sqrt(head_dim), dim=-1)  # over modalities
            attended = (scores @ values + values).reshape(batch, length, -1)  # [B, L, H·M·a/H], heads outermost
            follower = self.norm(self.fusion_dropout(self.output(attended)))  # [B, L, M·a]
            return self.regressor(torch.cat((sequences[0], follower), dim=-1))  # [B, L, K]

    return {"TemporalBlock": TemporalBlock, "LeaderFollowerAttention": LeaderFollowerAttention}


SPEC = SYSTEMS.register("bah-challenge")(
    SystemSpec(
        name="bah-challenge",
        paper="The ABAW-8 BAH challenge baseline, as reported in Hallmen et al. Semantic Matters: Multimodal Features "
        "for Affective Analysis. CVPR Workshops (ABAW 8), 2025 (Table 2, 'Baseline'); code: the BAH dataset "
        "authors' github.com/sbelharbi/bah-dataset.",
        tasks=("bah",),
        variants={"bah": {variant.name: variant for variant in _VARIANTS}},
        default_variant={"bah": "vision-audio-text"},
        hyper={"bah": HYPER},
        knobs={"bah": BahChallengeKnobs()},
        # the embedded demo only (SystemSpec.demo): windows of 64 frames with stride 16 (paper 300 / 200: the demo's
        # videos have 90-200 frames, so a 300-frame window would give one sample per video; inference hops as
        # training), 12 epochs of batch 8, the authors' SGD lr 1e-3 (its first decay, at epoch 40, is never reached)
        # (measured, one run each, seed 0: vision+audio+text weighted F1 .724, AP .385, against a shuffled-label
        # control's .577, AP .253; vision+audio .722, AP .343, against .662, AP .241; text alone .676 against .674:
        # the tiny random BERT's wordpieces, spread over each video without timing, do not find its A/H intervals)
        demo={"bah": {"epochs": 12, "batch_size": 8, "window": 64, "stride": 16, "inference_stride": 16}},
        build_model=build_model,
        description="BAH: per-modality TCN (kernel 5, 4 dilated levels) + leader-follower attention, two logits per "
        "frame, windows of 300 frames (the dataset authors' LFAN).",
    )
)
