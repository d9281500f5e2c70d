"""`whisper-large-v3` (modality "asr"): openai-whisper transcription of the whole clip with word timestamps.

The hallmen2025 text branch kept only the first segment of the transcript; here every segment is kept and the words
of all segments are flattened in order. Checkpoints are openai-whisper `.pt` files ({"dims", "model_state_dict"}),
loaded with `whisper.load_model(path)`; the tiny preset is a `whisper.model.Whisper` with tiny `ModelDimensions`
(multilingual vocabulary, so the tokenizer assets shipped in the whisper package apply) saved in the same format.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import whisper
from abaw_bench.harness.atomic import atomic_path
from abaw_bench.harness.encoders import _audio
from abaw_bench.harness.encoders._common import RANDOM_SEED, TorchEncoder, missing_weights_error, seeded
from abaw_bench.harness.encoders.base import EncoderInfo
from abaw_bench.harness.errors import AbawError
from whisper.model import ModelDimensions, Whisper

PAPER_NAME = "large-v3"
PAPER_DIMS = ModelDimensions(n_mels=128, n_audio_ctx=1500, n_audio_state=1280, n_audio_head=20, n_audio_layer=32,
                             n_vocab=51866, n_text_ctx=448, n_text_state=1280, n_text_head=20, n_text_layer=32)
# n_audio_ctx stays 1500: whisper always pads the log-mel to 30 s (3000 frames → 1500 after the stride-2 conv).
TINY_DIMS = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
                            n_vocab=51865, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=2)
# Random weights produce gibberish whose compression-ratio check would trigger the five temperature fallbacks;
# greedy decoding of at most 16 tokens per 30 s window keeps the tiny preset fast. The paper preset keeps whisper's
# defaults.
DECODE_OPTIONS: dict[str, dict[str, Any]] = {"paper": {}, "tiny": {"temperature": (0.0,), "sample_len": 16}}


class WhisperEncoder(TorchEncoder):
    """Waveform → {"text", "words": [{"word", "start", "end"}], "segments": [...]} for the whole clip."""

    model: Whisper

    def __init__(self, info: EncoderInfo, preset: str, model: Whisper, *, weights_path: Path | None, source: str,
                 language: str | None = None) -> None:
        super().__init__(info, preset, model, weights_path=weights_path, source=source)
        self.language = language

    def cache_params(self) -> dict[str, Any]:
        return {"sample_rate": _audio.SAMPLE_RATE, "word_timestamps": True, "language": self.language,
                "decode": {key: list(value) if isinstance(value, tuple) else value
                           for key, value in DECODE_OPTIONS[self.preset].items()},
                "dims": dataclasses.asdict(self.model.dims)}

    def prepare(self, media: Any) -> torch.Tensor:
        return _audio.as_waveform(media).contiguous()

    def collate(self, prepared: Sequence[torch.Tensor]) -> dict[str, Any]:
        return {"waves": list(prepared)}

    def forward(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        # whisper computes in fp16 only on CUDA; bf16 is not one of its modes, so it maps to fp16 there too.
        fp16 = self.device.startswith("cuda") and self.dtype != "fp32"
        return [self._transcribe(wave, fp16) for wave in batch["waves"]]

    def _transcribe(self, wave: torch.Tensor, fp16: bool) -> dict[str, Any]:
        result = whisper.transcribe(self.model, wave, word_timestamps=True, fp16=fp16, language=self.language,
                                    verbose=None, **DECODE_OPTIONS[self.preset])
        segments = [{"start": float(seg["start"]), "end": float(seg["end"]), "text": seg["text"]}
                    for seg in result["segments"]]
        words = [{"word": word["word"], "start": float(word["start"]), "end": float(word["end"])}
                 for seg in result["segments"] for word in seg.get("words", [])]
        return {"text": result["text"].strip(), "words": words, "segments": segments}


def _random_model(preset: str, device: str) -> Whisper:
    # Whisper's constructor builds a sparse buffer, which the meta device cannot hold: build real tensors instead.
    with seeded(), torch.device("cpu" if device == "meta" else device):
        return Whisper(PAPER_DIMS if preset == "paper" else TINY_DIMS)


def build_random(info: EncoderInfo, preset: str, *, device: str = "cpu", **options: Any) -> WhisperEncoder:
    return WhisperEncoder(info, preset, _random_model(preset, device), weights_path=None,
                          source=f"random weights (seed {RANDOM_SEED}), not the published checkpoint", **options)


def default_download_root() -> Path:
    """whisper's own default: $XDG_CACHE_HOME/whisper or ~/.cache/whisper."""
    return Path(os.getenv("XDG_CACHE_HOME", Path.home() / ".cache")) / "whisper"


def load(info: EncoderInfo, preset: str, weights: str | Path | None, *, trust_remote_code: bool,
         download_root: str | Path | None, **options: Any) -> WhisperEncoder:
    """A whisper .pt file (`weights`), or for the paper preset `large-v3.pt` in `download_root`, offline."""
    if preset == "tiny" and weights is None:
        return build_random(info, preset, **options)
    root = Path(download_root).expanduser() if download_root is not None else default_download_root()
    path = Path(weights).expanduser() if weights is not None else root / f"{PAPER_NAME}.pt"
    if not path.is_file():
        raise missing_weights_error(
            info, str(path),
            f"Download {whisper._MODELS[PAPER_NAME]} on a machine with internet and copy it to {root / 'large-v3.pt'} "
            "(or pass --download-root DIR holding large-v3.pt, or --weights FILE.pt).")
    try:
        model = whisper.load_model(str(path), device="cpu")
    except (RuntimeError, KeyError, OSError, TypeError) as error:
        raise AbawError(f"cannot load whisper checkpoint {path}: {error}") from error
    if preset == "paper":
        # Loading from a path skips whisper's per-model alignment heads; large-v3's are needed for good word timing.
        model.set_alignment_heads(whisper._ALIGNMENT_HEADS[PAPER_NAME])
    return WhisperEncoder(info, preset, model, weights_path=path, source=f"checkpoint {path}", **options)


def save(encoder: WhisperEncoder, destination: Path) -> Path:
    """A whisper checkpoint file; `destination` may be a directory (→ DIR/whisper-<preset>.pt) or a .pt path."""
    path = destination / f"whisper-{encoder.preset}.pt" if destination.suffix != ".pt" else destination
    state = {name: tensor.detach().cpu() for name, tensor in encoder.model.state_dict().items()}
    with atomic_path(path) as temporary:
        torch.save({"dims": dataclasses.asdict(encoder.model.dims), "model_state_dict": state}, temporary)
    return path
