"""`mobilenetv3`: timm `mobilenetv3_large_100` with the classifier removed (num_classes=0 → pooled 1280-d), on
112 px face crops with ImageNet normalisation, as wen2024's expression model uses it.

Weights come from a timm checkpoint file (.safetensors/.pth/.bin state dict) or a directory holding one (the HF hub
layout of `timm/mobilenetv3_large_100.ra_in1k`), loaded through timm's own `pretrained_cfg_overlay=dict(file=...)`
path, which drops the classifier weights. The tiny preset is `mobilenetv3_small_050` (same MobileNetV3 class).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import timm
import torch
from abaw_bench.harness.atomic import atomic_path, write_json
from abaw_bench.harness.encoders import _image
from abaw_bench.harness.encoders._common import (
    RANDOM_SEED,
    TorchEncoder,
    find_in_hf_cache,
    hf_cache_dir,
    missing_weights_error,
    seeded,
)
from abaw_bench.harness.encoders.base import EncoderInfo
from abaw_bench.harness.errors import AbawError
from safetensors.torch import save_file

ARCHITECTURES = {"paper": "mobilenetv3_large_100", "tiny": "mobilenetv3_small_050"}
IMAGE_SIZE = 112
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class MobileNetEncoder(TorchEncoder):
    def __init__(self, info: EncoderInfo, preset: str, model: torch.nn.Module, *, weights_path: Path | None,
                 source: str) -> None:
        super().__init__(info, preset, model, weights_path=weights_path, source=source)
        self.architecture = model.default_cfg["architecture"]

    def cache_params(self) -> dict[str, Any]:
        return {"architecture": self.architecture, "image_size": IMAGE_SIZE, "mean": IMAGENET_MEAN,
                "std": IMAGENET_STD, "pooling": "timm global average pool (num_classes=0)"}

    def prepare(self, media: Sequence[Any]) -> torch.Tensor:
        return _image.preprocess(media, IMAGE_SIZE, resample="bilinear")

    def collate(self, prepared: Sequence[torch.Tensor]) -> dict[str, Any]:
        return _image.stack(prepared)

    def forward(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        pixels = batch["pixel_values"]
        if pixels.shape[0] == 0:
            return [torch.zeros(0, self.output_dim, device=self.device) for _ in batch["counts"]]
        pixels = _image.to_model_input(pixels, self.device, IMAGENET_MEAN, IMAGENET_STD)
        with self.autocast():
            features = _image.in_chunks(self.model, pixels)
        return _image.split(features, batch["counts"])


def build_random(info: EncoderInfo, preset: str, *, device: str = "cpu") -> MobileNetEncoder:
    with seeded(), torch.device(device):
        model = timm.create_model(ARCHITECTURES[preset], pretrained=False, num_classes=0)
    return MobileNetEncoder(info, preset, model, weights_path=None,
                            source=f"random weights (seed {RANDOM_SEED}), not the published checkpoint")


def _weight_file(info: EncoderInfo, weights: str | Path | None) -> Path:
    how = (f"Put the timm checkpoint of {info.model_id} (model.safetensors from the Hugging Face repo "
           f"{info.model_id}, or a .pth state dict) at a path and pass --weights FILE_OR_DIR, or place the repo in "
           f"the Hugging Face cache {hf_cache_dir()}.")
    if weights is None:
        for name in WEIGHT_FILES:
            found = find_in_hf_cache(info.model_id, name)
            if found is not None:
                return found / name
        raise missing_weights_error(info, f"the Hugging Face cache {hf_cache_dir()} (offline)", how)
    path = Path(weights).expanduser()
    if path.is_dir():
        path = next((path / name for name in WEIGHT_FILES if (path / name).is_file()), path / WEIGHT_FILES[0])
    if not path.is_file():
        raise missing_weights_error(info, str(path), how)
    return path


def load(info: EncoderInfo, preset: str, weights: str | Path | None, *, trust_remote_code: bool,
         download_root: str | Path | None) -> MobileNetEncoder:
    """A timm checkpoint; the architecture comes from a config.json beside it, else from the preset."""
    if preset == "tiny" and weights is None:
        return build_random(info, preset)
    path = _weight_file(info, weights)
    config = path.parent / "config.json"
    architecture = ARCHITECTURES[preset]
    if config.is_file():
        architecture = json.loads(config.read_text()).get("architecture", architecture)
    try:
        model = timm.create_model(architecture, pretrained=True, num_classes=0,
                                  pretrained_cfg_overlay={"file": str(path)})
    except (RuntimeError, KeyError, OSError) as error:
        raise AbawError(f"cannot load encoder {info.name!r} ({architecture}) from {path}: {error}") from error
    return MobileNetEncoder(info, preset, model, weights_path=path, source=f"checkpoint {path}")


def save(encoder: MobileNetEncoder, directory: Path) -> Path:
    """The HF-hub timm layout: model.safetensors + config.json naming the architecture."""
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in encoder.model.state_dict().items()}
    with atomic_path(directory / "model.safetensors") as temporary:
        save_file(state, str(temporary))
    write_json(directory / "config.json", {"architecture": encoder.architecture, "num_classes": 0,
                                           "num_features": encoder.output_dim})
    return directory
