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
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Modality = Literal["audio", "image", "text", "asr"]
Preset = Literal["paper", "tiny"]
PRESETS: tuple[str, ...] = ("paper", "tiny")


@dataclass(frozen=True)
class EncoderInfo:
    """What the registry knows about an encoder without building it (no torch import needed)."""

    name: str
    modality: Modality
    model_id: str  # the published checkpoint the paper preset loads, e.g. "google/vit-huge-patch14-224-in21k"
    output_dims: dict[str, int]  # preset -> D
    description: str
    # How a frame-level run puts the rows on a video's label frames when the modality alone does not say (None: by
    # modality, harness/train/windows.py): "spread", rows without timing cut the frames into as many near-equal blocks
    frame_alignment: str | None = None


class Encoder(ABC):
    """A built encoder (torch module inside). Subclasses live one file per family in `harness/encoders/`."""

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
