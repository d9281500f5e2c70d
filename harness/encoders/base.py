"""The encoder contract shared by `extract`, `profile` and the systems that train encoders end to end.

An encoder turns one item's decoded media into a per-item feature array [T, D] (T frames, D = `output_dim`):
- "audio": a mono 16 kHz float32 waveform → [T, D] per encoder frame;
- "image": a list of face-crop images (RGB uint8 arrays, H×W×3) → [T, D], one row per image;
- "text": a transcript string → [1, D] (one pooled vector), or [wordpieces, D] for an encoder whose `frame_alignment`
  is "spread" (one vector per wordpiece, no timing);
- "asr": a waveform → a transcript dict {"text": str, "words": [{"word", "start", "end"}], "segments": [...]}
  (cached as JSON, not an array).

The split into `prepare` (CPU, no grad, runs in DataLoader workers), `collate` (pads to the batch's longest input and
builds the attention mask) and `forward` (on the device) is what lets extraction overlap decoding with compute and
makes an item's features independent of which other items share its batch.

Adding an encoder: one public module in `harness/encoders/` (the registry finds it by a package scan; modules whose
name starts with "_" are skipped) that calls `register_encoder(EncoderInfo(...))` at its top and names in the info's
`family` the module that builds it: itself (`family=__name__`), or a private module beside it that holds the torch
code (`_wav2vec2.py` for `wav2vec2.py`). The declaring module must not import torch, transformers, timm or whisper at
its top, since `abaw-bench systems`, `info`, `tasks`, `validate` and `score` list encoders and must stay light. The
family module is imported when an encoder is first built, and provides the three functions of `EncoderFamily`.
This module and `weights.py` are public (the declaring modules and `abaw-bench weights` import them), so the scan
imports them too: they register nothing and import no heavy library (tests/encoders/test_registry.py checks).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from abaw_bench.harness.encoders.weights import HubRepo, Part

Modality = Literal["audio", "image", "text", "asr"]
Preset = Literal["paper", "tiny"]
PRESETS: tuple[str, ...] = ("paper", "tiny")


@dataclass(frozen=True)
class EncoderInfo:
    """What the registry knows about an encoder without building it (no torch import needed).

    - `name`: the registry name (`--encoder`); it enters the feature-cache path and every fingerprint, so it never
      changes once features exist.
    - `modality`: what `prepare` receives and `forward` returns (module docstring above).
    - `model_id`: the published checkpoint the paper preset loads, e.g. "google/vit-huge-patch14-224-in21k". For a hub
      model it is the repository `harness/encoders/weights.py` looks up and downloads (at `weights.HUB_REVISION`),
      unless `sources` says otherwise; then it is only shown.
    - `output_dims`: preset -> D, the width of every row `forward` returns (0 for "asr").
    - `description`: one line for `--help` and `info`: what is pooled, per what, at which input size.
    - `family`: the dotted module that builds the encoder (the `EncoderFamily` contract), imported only then.
    - `frame_alignment`: how a frame-level run puts the rows on a video's label frames when the modality alone does
      not say. None: by modality (harness/train/windows.py: image rows are the face frames, audio rows 20 ms steps);
      "spread": rows without timing (BERT wordpieces of a whole transcript) cut the frames into near-equal blocks.
    - `remote_code`: the hub repository holding the architecture code the checkpoint runs (`trust_remote_code`;
      GTE's), fetched and reported with the weights.
    - `sources`: what the paper preset loads when it is not the hub repository `model_id` (`weights.Part`s: a whisper
      checkpoint URL, a bundled package, a file its authors distribute by hand); `abaw-bench weights` lists and
      fetches these.
    """

    name: str
    modality: Modality
    model_id: str
    output_dims: dict[str, int]
    description: str
    family: str
    frame_alignment: str | None = None
    remote_code: HubRepo | None = None
    sources: tuple[Part, ...] = ()


class EncoderFamily(Protocol):
    """The three functions the module named by `EncoderInfo.family` defines (`harness.encoders` calls them).

    Presets (`PRESETS`): "paper" is the published architecture; "tiny" the same code at a small configuration for
    tests and the demo. Options are the family's preprocessing parameters (e.g. `max_seconds`, `normalize`): keyword
    arguments of the `Encoder` constructor, which enter `cache_params()` and so the fingerprint; a family without
    such parameters accepts none.
    """

    def load(self, info: EncoderInfo, preset: str, weights: str | Path | None, *, trust_remote_code: bool,
             download_root: str | Path | None, **options: Any) -> Encoder:
        """The encoder with real weights on the CPU in fp32 (`load_encoder` moves it to the device).

        `weights` is what `--weights` gave (a save_pretrained directory, a .pt/.pth/.safetensors file or what `save`
        wrote), or None: the paper preset then finds its published checkpoint through `harness/encoders/weights.py`
        (the Hugging Face cache, downloading what is missing unless HF_HUB_OFFLINE=1; whisper: `download_root`) and
        raises one AbawError naming the model id, where it looked and how to get the files (`_common.py`:
        `resolve_hf_dir`, `read_plain_state`); the tiny preset without `weights` is `build_random(info, "tiny")`.
        `trust_remote_code` allows a checkpoint's own architecture code (GTE); a family that needs it refuses without.
        """

    def build_random(self, info: EncoderInfo, preset: str, *, device: str = "cpu", **options: Any) -> Encoder:
        """The preset's architecture with seeded random weights (`_common.seeded`, weights source
        `_common.RANDOM_WEIGHTS_SOURCE`) and no download: the tiny preset's weights, and `profile`'s paper-size
        model. `device` is where the parameters are created: `info` counts a paper-size encoder's parameters on
        "meta", which allocates nothing (whisper builds on the CPU, since the meta device cannot hold its sparse
        buffer). minilm has no random build: both its presets are the real model shipped in a package."""

    def save(self, encoder: Encoder, destination: Path) -> Path:
        """Write `encoder`'s weights atomically in the family's native format, so that `load(info, preset,
        destination)` rebuilds it with identical outputs; returns the path `--weights` takes."""


class Encoder(ABC):
    """A built encoder (torch module inside). Subclasses live in the family modules (`EncoderInfo.family`)."""

    info: EncoderInfo
    preset: str
    weights_source: str  # "random weights (seed 0)" or the checkpoint path; shown in every output that uses it
    model: Any  # the torch.nn.Module inside: what an "unfrozen" system variant fine-tunes end to end

    @property
    def is_random(self) -> bool:
        """True when the weights are random (a tiny preset without a checkpoint, or a profile build)."""
        return self.weights_source.startswith("random weights")

    def describe(self) -> str:
        """One line for logs and run summaries; says plainly when the weights are random."""
        return f"{self.info.name} [{self.preset}] {self.info.model_id}: {self.weights_source}"

    @property
    def output_dim(self) -> int:
        return self.info.output_dims[self.preset]

    @abstractmethod
    def fingerprint(self) -> str:
        """A short hash of the weights and preprocessing parameters; part of every feature-cache key."""

    @abstractmethod
    def cache_params(self) -> dict[str, Any]:
        """Preprocessing parameters that change the output (sample rate, max seconds, image size, pooling...)."""

    @abstractmethod
    def prepare(self, media: Any) -> Any:
        """CPU-side preprocessing of one item's decoded media; safe to run in a DataLoader worker."""

    @abstractmethod
    def collate(self, prepared: Sequence[Any]) -> dict[str, Any]:
        """Pad a list of `prepare` outputs into one batch (with attention mask / lengths)."""

    @abstractmethod
    def forward(self, batch: dict[str, Any]) -> list[Any]:
        """Run the model on a collated batch; one output per item with padding removed.

        Feature encoders return torch tensors [T_i, D] on the device (grad flows when enabled, which is how the
        "unfrozen" system variants fine-tune an encoder); the "asr" encoder returns transcript dicts.
        """

    @abstractmethod
    def to(self, device: str, dtype: str) -> Encoder:
        """Move to `device` ("cpu" or "cuda[:N]") and compute in `dtype` ("fp32", "bf16", "fp16")."""
