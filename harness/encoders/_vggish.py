"""`vggish`: Google's VGGish audio embedding (128-d per 0.96 s log-mel patch), as the BAH dataset authors extract it
for their challenge baseline (github.com/sbelharbi/bah-dataset: `abaw5_pre_processing/base/vggish/`, the torchvggish
port; `preprocess=False, postprocess=False`: raw embeddings, no PCA, no quantisation, no final ReLU).

Front end (their `vggish_input` / `mel_features`, reimplemented here in numpy): 16 kHz mono; |STFT| with a periodic
Hann window of 400 samples (25 ms), hop 160 (10 ms), FFT 512; 64 mel bands 125–7500 Hz (HTK mel, triangular
weights, DC bin zeroed); log(mel + 0.01). Patches of 96 log-mel frames (0.96 s) start every `hop_seconds`: the
authors hop by one video frame (1 / fps), so that there is one embedding per frame. The encoder sees only the
waveform, so the hop is fixed here (`HOP_SECONDS`, 40 ms: 25 fps, the rate the harness assumes for BAH); the engine
then aligns the rows to each video's label frames by interpolation over the whole video, as for every audio
encoder. A clip shorter than one patch is zero-padded to one patch (one row).

Network: VGG conv stack on [1, 96, 64] (conv 64, pool, conv 128, pool, conv 256 ×2, pool, conv 512 ×2, pool; 3×3
convs with ReLU, 2×2 max-pools) → the [512, 6, 4] map flattened in the TF order (channels last) → Linear(12288 →
4096) → ReLU → Linear(4096 → 4096) → ReLU → Linear(4096 → 128). Presets: `paper` is that network with the torchvggish
checkpoint the authors load (`vggish-10086976.pth`, from the torchvggish release; pass `--weights vggish=FILE`);
`tiny` has conv widths 4, 8, 16, 16 and Linear widths 64, 64, 16 (16-d), seeded random weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from abaw_bench.harness.encoders import _audio
from abaw_bench.harness.encoders._common import (
    RANDOM_WEIGHTS_SOURCE,
    TorchEncoder,
    check_output_dim,
    load_plain_state,
    read_plain_state,
    save_plain_state,
    seeded,
)
from abaw_bench.harness.encoders.base import EncoderInfo
from torch import nn

WINDOW, HOP, FFT = 400, 160, 512  # samples: 25 ms, 10 ms, the next power of two
MEL_BANDS, MEL_LOW_HZ, MEL_HIGH_HZ, LOG_OFFSET = 64, 125.0, 7500.0, 0.01
PATCH_FRAMES = 96  # 0.96 s of 10 ms log-mel frames
HOP_SECONDS = 0.04  # one patch per 40 ms (the authors: one per video frame)
MAX_PATCHES_PER_FORWARD = 512  # patches are independent: bound one forward's memory
WIDTHS = {"paper": ((64, 128, 256, 512), (4096, 4096, 128)), "tiny": ((16, 32, 32, 64), (128, 128, 32))}
HOW_TO_GET = ("Download vggish-10086976.pth (github.com/harritaylor/torchvggish, release v0.1; the BAH dataset "
              "authors' vggish.pth is the same checkpoint) and pass --weights vggish=FILE.")


@cache
def mel_matrix() -> np.ndarray:
    """[FFT/2 + 1, MEL_BANDS] triangular HTK-mel weights (VGGish's spectrogram_to_mel_matrix)."""
    def to_mel(hertz: np.ndarray | float) -> np.ndarray:
        return 1127.0 * np.log(1.0 + np.asarray(hertz) / 700.0)

    bins_mel = to_mel(np.linspace(0.0, _audio.SAMPLE_RATE / 2, FFT // 2 + 1))
    edges = np.linspace(to_mel(MEL_LOW_HZ), to_mel(MEL_HIGH_HZ), MEL_BANDS + 2)
    weights = np.empty((FFT // 2 + 1, MEL_BANDS))
    for band in range(MEL_BANDS):
        low, centre, high = edges[band:band + 3]
        weights[:, band] = np.maximum(0.0, np.minimum((bins_mel - low) / (centre - low),
                                                      (high - bins_mel) / (high - centre)))
    weights[0, :] = 0.0
    return weights


def log_mel(wave: np.ndarray) -> np.ndarray:
    """[frames, 64] log-mel spectrogram of a 16 kHz waveform (frames without padding, as VGGish frames them)."""
    if wave.size < WINDOW:
        wave = np.pad(wave, (0, WINDOW - wave.size))
    count = 1 + (wave.size - WINDOW) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(wave, WINDOW)[::HOP][:count]
    window = 0.5 - 0.5 * np.cos(2 * np.pi / WINDOW * np.arange(WINDOW))  # periodic Hann
    magnitude = np.abs(np.fft.rfft(frames * window, FFT))
    return np.log(magnitude @ mel_matrix() + LOG_OFFSET)


def patches(spectrogram: np.ndarray, hop_seconds: float) -> np.ndarray:
    """[patches, 96, 64]: windows of 96 frames starting every `hop_seconds` (rounded, as the authors' my_frame)."""
    if spectrogram.shape[0] < PATCH_FRAMES:
        spectrogram = np.pad(spectrogram, ((0, PATCH_FRAMES - spectrogram.shape[0]), (0, 0)))
    hop = hop_seconds * 100.0  # in 10 ms frames
    count = 1 + int((spectrogram.shape[0] - PATCH_FRAMES) // hop)
    return np.stack([spectrogram[round(hop * i):round(hop * i) + PATCH_FRAMES] for i in range(count)])


class VGGishNetwork(nn.Module):
    """torchvggish's VGG: `features` (conv stack) and `embeddings` (three Linear layers), their parameter names."""

    def __init__(self, conv_widths: Sequence[int], linear_widths: Sequence[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for index, width in enumerate(conv_widths):
            repeats = 1 if index < 2 else 2
            for _ in range(repeats):
                layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
                channels = width
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        first, second, out = linear_widths
        self.embeddings = nn.Sequential(nn.Linear(channels * 6 * 4, first), nn.ReLU(True), nn.Linear(first, second),
                                        nn.ReLU(True), nn.Linear(second, out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, 1, 96, 64]
        features = self.features(x).permute(0, 2, 3, 1).flatten(1)  # the TF (channels-last) order
        return self.embeddings(features)


class VGGishEncoder(TorchEncoder):
    """A mono 16 kHz waveform → [patches, D] embeddings, one per `HOP_SECONDS`."""

    def cache_params(self) -> dict[str, Any]:
        return {"sample_rate": _audio.SAMPLE_RATE, "window": WINDOW, "hop": HOP, "fft": FFT, "mel_bands": MEL_BANDS,
                "mel_hz": [MEL_LOW_HZ, MEL_HIGH_HZ], "patch_frames": PATCH_FRAMES, "hop_seconds": HOP_SECONDS,
                "widths": WIDTHS[self.preset], "pooling": "raw embedding (no PCA, no quantisation)"}

    def prepare(self, media: Any) -> torch.Tensor:
        wave = _audio.as_waveform(media).numpy().astype(np.float64)
        return torch.from_numpy(patches(log_mel(wave), HOP_SECONDS).astype(np.float32))

    def collate(self, prepared: Sequence[torch.Tensor]) -> dict[str, Any]:
        return {"patches": torch.cat(list(prepared)), "counts": [int(p.shape[0]) for p in prepared]}

    def forward(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        values = batch["patches"].to(self.device, non_blocking=True)[:, None]
        with self.autocast():
            outputs = torch.cat([self.model(chunk) for chunk in values.split(MAX_PATCHES_PER_FORWARD)])
        return [part.float() for part in outputs.split(batch["counts"])]


def _create(info: EncoderInfo, preset: str) -> VGGishNetwork:
    conv, linear = WIDTHS[preset]
    check_output_dim(info, preset, linear[-1], "its last linear layer")
    return VGGishNetwork(conv, linear)


def build_random(info: EncoderInfo, preset: str, *, device: str = "cpu") -> VGGishEncoder:
    with seeded(), torch.device(device):
        model = _create(info, preset)
    return VGGishEncoder(info, preset, model, weights_path=None,
                         source=RANDOM_WEIGHTS_SOURCE)


def load(info: EncoderInfo, preset: str, weights: str | Path | None, *, trust_remote_code: bool,
         download_root: str | Path | None) -> VGGishEncoder:
    """Strict load of the torchvggish checkpoint (.pth) or a saved directory; the other options do not apply."""
    if preset == "tiny" and weights is None:
        return build_random(info, preset)
    path, state = read_plain_state(info, preset, weights, HOW_TO_GET)
    model = load_plain_state(_create(info, preset), state, path, info, preset)
    return VGGishEncoder(info, preset, model, weights_path=path, source=f"checkpoint {path}")


def save(encoder: VGGishEncoder, directory: Path) -> Path:
    """model.safetensors + config.json (the preset and its widths)."""
    return save_plain_state(encoder, directory, {"widths": [list(widths) for widths in WIDTHS[encoder.preset]]})
