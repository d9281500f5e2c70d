"""`bert-tokens`, one BERT vector per wordpiece (the BAH challenge baseline's text): declared here, built by
`_bert_tokens.py`.
"""

from __future__ import annotations

from abaw_bench.harness.encoders import register_encoder
from abaw_bench.harness.encoders.base import EncoderInfo

register_encoder(EncoderInfo(
    "bert-tokens", "text", "google-bert/bert-base-uncased", {"paper": 768, "tiny": 32},
    "BERT-base-uncased per wordpiece of the whole transcript, sentence by sentence (max 256 tokens): the sum of the "
    "last 4 hidden layers, [CLS]/[SEP] dropped (the BAH challenge baseline's text features); spread over the frames",
    frame_alignment="spread", family="abaw_bench.harness.encoders._bert_tokens"))
