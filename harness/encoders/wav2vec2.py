"""`wav2vec2-vad`, audeering's emotion wav2vec2 per 20 ms frame: declared here, built by `_wav2vec2.py`."""

from __future__ import annotations

from abaw_bench.harness.encoders import register_encoder
from abaw_bench.harness.encoders.base import EncoderInfo

register_encoder(EncoderInfo(
    "wav2vec2-vad", "audio", "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim", {"paper": 1027, "tiny": 35},
    "wav2vec2-large-robust (12 layers) + VAD regression head per 20 ms frame: [T, 1024 hidden ++ 3 VAD]",
    family="abaw_bench.harness.encoders._wav2vec2"))
