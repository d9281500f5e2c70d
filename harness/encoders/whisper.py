"""`whisper-large-v3`, openai-whisper transcripts with word timestamps: declared here, built by `_whisper.py`."""

from __future__ import annotations

from abaw_bench.harness.encoders import register_encoder
from abaw_bench.harness.encoders.base import EncoderInfo
from abaw_bench.harness.encoders.weights import WhisperCheckpoint

# whisper._MODELS["large-v3"] of openai-whisper 20250625, copied so that listing needs no torch import (whisper
# imports torch); tests/encoders/test_weights.py checks it against the installed package.
LARGE_V3_URL = ("https://openaipublic.azureedge.net/main/whisper/models/"
                "e5b1a55b89c1367dacf97e3e19bfd829a01529dbfdeefa8caeb59b3f1b81dadb/large-v3.pt")

register_encoder(EncoderInfo(
    "whisper-large-v3", "asr", "openai-whisper:large-v3", {"paper": 0, "tiny": 0},
    "openai-whisper transcription of the whole clip with word timestamps",
    family="abaw_bench.harness.encoders._whisper",
    sources=(WhisperCheckpoint("large-v3", LARGE_V3_URL),)))
