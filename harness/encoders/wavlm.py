"""`wavlm-large` (wen2024), WavLM's last 4 hidden layers summed per 20 ms frame: declared here, built by
`_wavlm.py`.
"""

from __future__ import annotations

from abaw_bench.harness.encoders import register_encoder
from abaw_bench.harness.encoders.base import EncoderInfo

register_encoder(EncoderInfo(
    "wavlm-large", "audio", "microsoft/wavlm-large", {"paper": 1024, "tiny": 32},
    "WavLM-large, sum of the last 4 hidden layers per 20 ms frame, computed in 10 s chunks",
    family="abaw_bench.harness.encoders._wavlm"))
