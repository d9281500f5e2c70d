"""Test helper (not collected by pytest): 16 kHz mono 16-bit noise wav files for the extraction tests."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def write_wav(path: Path, seconds: float, seed: int) -> None:
    samples = (np.random.default_rng(seed).standard_normal(round(16000 * seconds)) * 3000).astype(np.int16)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        handle.writeframes(samples.tobytes())
