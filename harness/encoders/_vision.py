"""`vit-h14` and `clip-l14`: transformers vision transformers on face crops, one feature vector per image.

- vit-h14 (hallmen2025): ViTModel from `google/vit-huge-patch14-224-in21k`, mean over all 257 tokens of the last
  hidden state (after the final layer norm) → 1280. Preprocessing as its image processor: bilinear 224², mean/std 0.5.
- clip-l14 (wen2024): CLIPVisionModelWithProjection from `openai/clip-vit-large-patch14` (loads from the full CLIP
  checkpoint), the projected image embedding → 768. CLIP preprocessing: bicubic shortest side, centre crop, CLIP
  mean/std.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from abaw_bench.harness.encoders import _image
from abaw_bench.harness.encoders._common import (
    RANDOM_WEIGHTS_SOURCE,
    TorchEncoder,
    from_pretrained_checked,
    resolve_hf_dir,
    save_files_atomically,
    seeded,
)
from abaw_bench.harness.encoders._image import CLIP_MEAN, CLIP_STD
from abaw_bench.harness.encoders.base import EncoderInfo
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection, ViTConfig, ViTModel


@dataclass(frozen=True)
class Family:
    model_class: Any
    config_class: Any
    configs: dict[str, dict[str, Any]]  # preset -> config kwargs
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resample: str
    center_crop: bool
    pooling: str


FAMILIES: dict[str, Family] = {
    "vit-h14": Family(
        ViTModel, ViTConfig,
        {"paper": {"hidden_size": 1280, "num_hidden_layers": 32, "num_attention_heads": 16,
                   "intermediate_size": 5120, "image_size": 224, "patch_size": 14},
         "tiny": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
                  "image_size": 56, "patch_size": 14}},
        (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bilinear", False, "mean of all tokens of last_hidden_state"),
    "clip-l14": Family(
        CLIPVisionModelWithProjection, CLIPVisionConfig,
        {"paper": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
                   "intermediate_size": 4096, "image_size": 224, "patch_size": 14, "projection_dim": 768,
                   "hidden_act": "quick_gelu"},
         "tiny": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
                  "image_size": 28, "patch_size": 14, "projection_dim": 16, "hidden_act": "quick_gelu"}},
        CLIP_MEAN, CLIP_STD, "bicubic", True, "image_embeds (projected pooled CLS)"),
}


class VisionEncoder(TorchEncoder):
    """A list of face images → [N images, D]."""

    def __init__(self, info: EncoderInfo, preset: str, model: torch.nn.Module, *, weights_path: Path | None,
                 source: str) -> None:
        super().__init__(info, preset, model, weights_path=weights_path, source=source)
        self.family = FAMILIES[info.name]
        self.image_size = int(model.config.image_size)

    def cache_params(self) -> dict[str, Any]:
        return {"image_size": self.image_size, "mean": self.family.mean, "std": self.family.std,
                "resample": self.family.resample, "center_crop": self.family.center_crop,
                "pooling": self.family.pooling}

    def prepare(self, media: Sequence[Any]) -> torch.Tensor:
        return _image.preprocess(media, self.image_size, resample=self.family.resample,
                                 center_crop=self.family.center_crop)

    def collate(self, prepared: Sequence[torch.Tensor]) -> dict[str, Any]:
        return _image.stack(prepared)

    def forward(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        return _image.encode(self, batch, self.family.mean, self.family.std, self._embed)

    def _embed(self, pixels: torch.Tensor) -> torch.Tensor:
        output = self.model(pixel_values=pixels)
        return output.image_embeds if self.info.name == "clip-l14" else output.last_hidden_state.mean(dim=1)


def build_random(info: EncoderInfo, preset: str, *, device: str = "cpu") -> VisionEncoder:
    family = FAMILIES[info.name]
    config = family.config_class(**family.configs[preset])
    kwargs: dict[str, Any] = {"add_pooling_layer": False} if info.name == "vit-h14" else {}
    with seeded(), torch.device(device):
        model = family.model_class._from_config(config, attn_implementation="sdpa", dtype=torch.float32, **kwargs)
    return VisionEncoder(info, preset, model, weights_path=None,
                         source=RANDOM_WEIGHTS_SOURCE)


def load(info: EncoderInfo, preset: str, weights: str | Path | None, *, trust_remote_code: bool,
         download_root: str | Path | None) -> VisionEncoder:
    """Plain transformers models: `trust_remote_code` and `download_root` do not apply."""
    if preset == "tiny" and weights is None:
        return build_random(info, preset)
    directory = resolve_hf_dir(info, weights)
    kwargs: dict[str, Any] = {"add_pooling_layer": False} if info.name == "vit-h14" else {}
    model = from_pretrained_checked(FAMILIES[info.name].model_class, directory, info, attn_implementation="sdpa",
                                    dtype=torch.float32, **kwargs)
    return VisionEncoder(info, preset, model, weights_path=directory, source=f"checkpoint {directory}")


def save(encoder: VisionEncoder, directory: Path) -> Path:
    return save_files_atomically(directory, encoder.model.save_pretrained)
