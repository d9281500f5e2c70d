"""Waveform preprocessing shared by the wav2vec2-family encoders (wav2vec2-vad, wavlm-large).

Normalisation is per clip on the unpadded samples (what the Hugging Face feature extractor does with
`do_normalize=True`), and padding goes with an attention mask, so an item's features never depend on the other
items of its batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from abaw_bench.harness.encoders._common import read_config_json
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.media import SAMPLE_RATE

MIN_SAMPLES = 400  # the wav2vec2 convolution stack's receptive field: shorter input yields no frame


def as_waveform(media: Any) -> torch.Tensor:
    """A 1-D float32 tensor from a numpy array or tensor of mono 16 kHz samples."""
    wave = torch.as_tensor(np.asarray(media, dtype=np.float32) if not torch.is_tensor(media) else media)
    if wave.ndim != 1:
        raise AbawError(f"expected a mono waveform (1-D array of 16 kHz samples), got shape {tuple(wave.shape)}")
    return wave.to(torch.float32)


def zero_mean_unit_var(wave: torch.Tensor) -> torch.Tensor:
    """transformers' Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm for one unpadded clip (population variance)."""
    return (wave - wave.mean()) / torch.sqrt(wave.var(unbiased=False) + 1e-7)


def checkpoint_normalizes(directory: Path, default: bool) -> bool:
    """`do_normalize` from the checkpoint's preprocessor_config.json (`default`, the encoder's own, when the file or
    the field is absent), so a reloaded checkpoint preprocesses its input as it was saved."""
    path = directory / "preprocessor_config.json"
    if not path.is_file():
        return default
    return bool(read_config_json(path, "preprocessor_config.json").get("do_normalize", default))


def check_length(wave: torch.Tensor) -> None:
    if wave.numel() < MIN_SAMPLES:
        raise AbawError(f"audio too short: {wave.numel()} samples at 16 kHz; at least {MIN_SAMPLES} "
                        f"({MIN_SAMPLES / SAMPLE_RATE * 1000:.0f} ms) are needed for one encoder frame")


def pad_batch(waves: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Right-pad with zeros to the longest clip; mask 1 on real samples."""
    lengths = torch.tensor([w.numel() for w in waves], dtype=torch.long)
    longest = int(lengths.max()) if len(waves) else 0
    values = torch.zeros(len(waves), longest, dtype=torch.float32)
    for row, wave in enumerate(waves):
        values[row, : wave.numel()] = wave
    mask = (torch.arange(longest)[None, :] < lengths[:, None]).to(torch.long)
    return {"input_values": values, "attention_mask": mask, "lengths": lengths}
