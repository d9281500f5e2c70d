"""`wavlm-large` (wen2024): WavLMModel, per 20 ms frame the sum of the last 4 hidden layers, in 10 s chunks.

Each clip is cut into consecutive 10 s chunks that are encoded independently (as the authors did to bound memory)
and the frames are concatenated; a final chunk shorter than one frame's receptive field (25 ms) is dropped. All
chunks of a batch are padded together with an attention mask, so results do not depend on batch composition.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from abaw_bench.harness.encoders import _audio
from abaw_bench.harness.encoders._common import (
    RANDOM_WEIGHTS_SOURCE,
    TorchEncoder,
    from_pretrained_checked,
    resolve_hf_dir,
    save_files_atomically,
    seeded,
)
from abaw_bench.harness.encoders.base import EncoderInfo
from transformers import WavLMConfig, WavLMModel

PAPER_CONFIG: dict[str, Any] = {
    "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096,
    "do_stable_layer_norm": True, "feat_extract_norm": "layer", "conv_bias": False,
    "num_conv_pos_embeddings": 128, "num_conv_pos_embedding_groups": 16,
}
TINY_CONFIG: dict[str, Any] = {
    **PAPER_CONFIG, "hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2, "intermediate_size": 64,
    "conv_dim": (16,) * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2, "num_buckets": 32,
}
CHUNK_SECONDS = 10.0
LAST_LAYERS = 4


class WavLMEncoder(TorchEncoder):
    model: WavLMModel

    def __init__(self, info: EncoderInfo, preset: str, model: WavLMModel, *, weights_path: Path | None, source: str,
                 normalize: bool = False, chunk_seconds: float = CHUNK_SECONDS) -> None:
        super().__init__(info, preset, model, weights_path=weights_path, source=source)
        self.normalize = normalize
        self.chunk_seconds = chunk_seconds

    def cache_params(self) -> dict[str, Any]:
        return {"sample_rate": _audio.SAMPLE_RATE, "normalize": self.normalize, "chunk_seconds": self.chunk_seconds,
                "pooling": f"sum of the last {LAST_LAYERS} hidden states"}

    def prepare(self, media: Any) -> list[torch.Tensor]:
        wave = _audio.as_waveform(media)
        _audio.check_length(wave)
        if self.normalize:
            wave = _audio.zero_mean_unit_var(wave)
        chunk = round(self.chunk_seconds * _audio.SAMPLE_RATE)
        return [part.contiguous() for part in torch.split(wave, chunk) if part.numel() >= _audio.MIN_SAMPLES]

    def collate(self, prepared: Sequence[list[torch.Tensor]]) -> dict[str, Any]:
        batch = _audio.pad_batch([chunk for chunks in prepared for chunk in chunks])
        batch["chunks_per_item"] = [len(chunks) for chunks in prepared]
        return batch

    def forward(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        values = batch["input_values"].to(self.device, non_blocking=True)
        mask = batch["attention_mask"].to(self.device, non_blocking=True)
        with self.autocast(), warnings.catch_warnings():
            # transformers' WavLM attention passes a float position bias with a bool padding mask, which torch
            # deprecates with a warning on every call; the result is correct.
            warnings.filterwarnings("ignore", message="Support for mismatched key_padding_mask")
            hidden = self.model(values, attention_mask=mask, output_hidden_states=True).hidden_states
            summed = torch.stack(hidden[-LAST_LAYERS:]).sum(dim=0)
        frames = self.model._get_feat_extract_output_lengths(batch["lengths"]).tolist()
        chunks = [summed[row, :count].float() for row, count in enumerate(frames)]
        out, start = [], 0
        for count in batch["chunks_per_item"]:
            out.append(torch.cat(chunks[start:start + count]))
            start += count
        return out


def build_random(info: EncoderInfo, preset: str, *, device: str = "cpu", **options: Any) -> WavLMEncoder:
    config = WavLMConfig(**(PAPER_CONFIG if preset == "paper" else TINY_CONFIG))
    with seeded(), torch.device(device):
        model = WavLMModel._from_config(config, dtype=torch.float32)
    return WavLMEncoder(info, preset, model, weights_path=None,
                        source=RANDOM_WEIGHTS_SOURCE, **options)


def load(info: EncoderInfo, preset: str, weights: str | Path | None, *, trust_remote_code: bool,
         download_root: str | Path | None, **options: Any) -> WavLMEncoder:
    """Plain transformers model; `do_normalize` comes from the checkpoint's preprocessor_config.json."""
    if preset == "tiny" and weights is None:
        return build_random(info, preset, **options)
    directory = resolve_hf_dir(info, weights)
    model = from_pretrained_checked(WavLMModel, directory, info, dtype=torch.float32)
    options.setdefault("normalize", _audio.checkpoint_normalizes(directory, default=False))
    return WavLMEncoder(info, preset, model, weights_path=directory, source=f"checkpoint {directory}", **options)


def save(encoder: WavLMEncoder, directory: Path) -> Path:
    from transformers import Wav2Vec2FeatureExtractor

    def write(staging: Path) -> None:
        encoder.model.save_pretrained(staging)
        Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=_audio.SAMPLE_RATE, padding_value=0.0,
                                 do_normalize=encoder.normalize, return_attention_mask=True).save_pretrained(staging)

    return save_files_atomically(directory, write)
