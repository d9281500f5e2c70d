"""VGGish as the BAH challenge baseline extracts it (harness/encoders/_vggish.py): the log-mel front end, the
torchvggish checkpoint layout, and the paper preset's size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from abaw_bench.harness.encoders import _vggish, build_random, load_encoder
from abaw_bench.harness.errors import AbawError

SECONDS = 2.0
TONE = (0.5 * np.sin(2 * np.pi * 1000.0 * np.arange(int(16000 * SECONDS)) / 16000)).astype(np.float32)


def test_log_mel_frames_bands_and_patches() -> None:
    spectrogram = _vggish.log_mel(TONE.astype(np.float64))
    assert spectrogram.shape == (1 + (32000 - 400) // 160, 64)  # 25 ms windows every 10 ms, no padding
    peak = int(spectrogram.mean(axis=0).argmax())
    low, high = (1127.0 * np.log(1.0 + hz / 700.0) for hz in (125.0, 7500.0))  # HTK mel
    centre_mel = np.linspace(low, high, 66)[peak + 1]
    assert abs(700.0 * (np.exp(centre_mel / 1127.0) - 1.0) - 1000.0) < 60.0  # the 1 kHz tone's band
    assert _vggish.patches(spectrogram, 0.04).shape == (1 + (198 - 96) // 4, 96, 64)
    assert _vggish.patches(spectrogram[:10], 0.04).shape == (1, 96, 64)  # short clips: one zero-padded patch


def test_the_torchvggish_checkpoint_layout_loads(tmp_path: Path) -> None:
    random = load_encoder("vggish", "tiny")
    torch.save(random.model.state_dict(), tmp_path / "vggish.pth")
    loaded = load_encoder("vggish", "tiny", weights=tmp_path / "vggish.pth")
    with torch.no_grad():
        before = random.forward(random.collate([random.prepare(TONE)]))[0]
        after = loaded.forward(loaded.collate([loaded.prepare(TONE)]))[0]
    torch.testing.assert_close(after, before, rtol=0, atol=0)
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(AbawError, match=r"is not a checkpoint of vggish \[tiny\]"):
        load_encoder("vggish", "tiny", weights=tmp_path / "other.pth")
    with pytest.raises(AbawError, match=r"vggish-10086976\.pth"):
        load_encoder("vggish", "paper")


def test_paper_preset_is_vggish() -> None:
    model = build_random("vggish", "paper", device="meta").model
    keys = set(model.state_dict())
    assert {"features.0.weight", "features.13.weight", "embeddings.0.weight", "embeddings.4.bias"} <= keys
    assert model.embeddings[0].in_features == 512 * 6 * 4
    assert sum(parameter.numel() for parameter in model.parameters()) == 72_141_184  # VGGish's published 72.1 M
