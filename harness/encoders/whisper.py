"""`whisper-large-v3`, openai-whisper transcripts with word timestamps: declared here, built by `_whisper.py`.

The registry imports this module to list the encoders, so it holds no torch code: building one imports the family
module `FAMILY` names, which provides the contract of `harness/encoders/base.py`.
"""

from __future__ import annotations

from abaw_bench.harness.encoders import register_encoder
from abaw_bench.harness.encoders.base import EncoderInfo

FAMILY = "abaw_bench.harness.encoders._whisper"

register_encoder(EncoderInfo(
    "whisper-large-v3", "asr", "openai-whisper:large-v3", {"paper": 0, "tiny": 0},
    "openai-whisper transcription of the whole clip with word timestamps", family=FAMILY))
