"""`vit-h14` and `clip-l14`, transformers vision transformers on face crops: declared here, built by `_vision.py`."""

from __future__ import annotations

from abaw_bench.harness.encoders import register_encoder
from abaw_bench.harness.encoders.base import EncoderInfo

FAMILY = "abaw_bench.harness.encoders._vision"

register_encoder(EncoderInfo(
    "vit-h14", "image", "google/vit-huge-patch14-224-in21k", {"paper": 1280, "tiny": 32},
    "ViT-Huge/14 ImageNet-21k; per face image the mean of all 257 tokens of the last hidden state", family=FAMILY))

register_encoder(EncoderInfo(
    "clip-l14", "image", "openai/clip-vit-large-patch14", {"paper": 768, "tiny": 16},
    "CLIP ViT-L/14 image embedding (projected, 768-d) per face image", family=FAMILY))
