"""`wav2vec2-vad`, audeering's emotion wav2vec2 per 20 ms frame: declared here, built by `_wav2vec2.py`.

The registry imports this module to list the encoders, so it holds no torch code: building one imports the family
module `FAMILY` names, which provides the contract of `harness/encoders/base.py`.
"""

from __future__ import annotations

from abaw_bench.harness.encoders import register_encoder
from abaw_bench.harness.encoders.base import EncoderInfo

FAMILY = "abaw_bench.harness.encoders._wav2vec2"

register_encoder(EncoderInfo(
    "wav2vec2-vad", "audio", "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim", {"paper": 1027, "tiny": 35},
    "wav2vec2-large-robust (12 layers) + VAD regression head per 20 ms frame: [T, 1024 hidden ++ 3 VAD]",
    family=FAMILY))
