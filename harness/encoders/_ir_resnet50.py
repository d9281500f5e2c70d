"""`ir-resnet50`: the BAH dataset authors' face model, an IR-ResNet-50 (ArcFace-style "improved residual" network),
one 512-d L2-normalised embedding per face crop (github.com/sbelharbi/bah-dataset: `models/arcface_model.py`
Backbone(num_layers=50, mode="ir"), `models/backbone.py` VisualBackbone; weights `res50_ir_0.887.pth`).

Architecture, as their code builds it: input layer Conv3×3(3 → 64) → BN → PReLU; 24 bottleneck_IR units in four
stages of depth 64, 128, 256, 512 (3, 4, 14, 3 units; strides 1, 2, 2, 2 at each stage's first unit), each unit
BN → Conv3×3 → PReLU → Conv3×3 (stride) → BN plus a shortcut (MaxPool(1, stride) at equal width, else Conv1×1 + BN);
output layer BN2d(512) → Dropout(0.4) → Flatten → Linear(512·5·5 → 512) → BN1d(512), then L2 normalisation. The 5×5
map comes from their 40 px crops (their evaluation transform: resize to 48, centre crop 40, normalise with mean and
std 0.5). Their training transform crops at random and flips; the backbone is frozen in their model, so the harness
extracts the evaluation view once into the feature cache (no augmentation).

Presets: `paper` is the above (their checkpoint through `--weights ir-resnet50=FILE`: the `.pth` state dict of their
VisualBackbone, whose `backbone.` prefix is removed and `logits.` classifier dropped; or a directory saved here);
`tiny` has one unit per stage of width 8, 16, 32, 64 on the same 40 px crops (64-d), seeded random weights.
The checkpoint is distributed by the dataset authors (Google Drive, linked from their README), not from a model hub,
so nothing downloads it: `abaw-bench weights` lists it as a file to put in place by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from abaw_bench.harness.encoders import _image
from abaw_bench.harness.encoders._common import (
    RANDOM_WEIGHTS_SOURCE,
    TorchEncoder,
    check_output_dim,
    load_plain_state,
    read_plain_state,
    save_plain_state,
    seeded,
)
from abaw_bench.harness.encoders.base import EncoderInfo
from torch import nn

IMAGE_SIZE, RESIZE = 40, 48  # their evaluation transform: resize to 48, centre crop 40
MEAN = STD = (0.5, 0.5, 0.5)
DROPOUT = 0.4
STAGES = {"paper": ((64, 3), (128, 4), (256, 14), (512, 3)), "tiny": ((8, 1), (16, 1), (32, 1), (64, 1))}
HOW_TO_GET = ("Download res50_ir_0.887.pth (the BAH dataset authors' face model, linked from the README of "
              "github.com/sbelharbi/bah-dataset) and pass --weights ir-resnet50=FILE.")


class IRUnit(nn.Module):
    """bottleneck_IR: BN → Conv3×3 → PReLU → Conv3×3(stride) → BN, plus the shortcut."""

    def __init__(self, in_channels: int, depth: int, stride: int) -> None:
        super().__init__()
        self.shortcut_layer = nn.MaxPool2d(1, stride) if in_channels == depth else nn.Sequential(
            nn.Conv2d(in_channels, depth, 1, stride, bias=False), nn.BatchNorm2d(depth))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_channels), nn.Conv2d(in_channels, depth, 3, 1, 1, bias=False), nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class IRResNet(nn.Module):
    """The authors' Backbone (mode "ir") on 40 px crops; parameter names as in their state dict."""

    def __init__(self, stages: Sequence[tuple[int, int]]) -> None:
        super().__init__()
        first = stages[0][0]
        self.input_layer = nn.Sequential(nn.Conv2d(3, first, 3, 1, 1, bias=False), nn.BatchNorm2d(first),
                                         nn.PReLU(first))
        units, width = [], first
        for index, (depth, count) in enumerate(stages):
            for unit in range(count):
                units.append(IRUnit(width, depth, 2 if unit == 0 and index > 0 else 1))
                width = depth
        self.body = nn.Sequential(*units)
        side = IMAGE_SIZE // 2 ** (len(stages) - 1)
        self.output_layer = nn.Sequential(nn.BatchNorm2d(width), nn.Dropout(DROPOUT), nn.Flatten(),
                                          nn.Linear(width * side * side, width), nn.BatchNorm1d(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.output_layer(self.body(self.input_layer(x))), dim=1)


class IRResNetEncoder(TorchEncoder):
    """A list of face images → [N images, D] L2-normalised embeddings."""

    def cache_params(self) -> dict[str, Any]:
        return {"stages": STAGES[self.preset], "resize": RESIZE, "image_size": IMAGE_SIZE, "mean": MEAN, "std": STD,
                "pooling": "output layer (Linear 5×5 map → D, BN1d), L2-normalised"}

    def prepare(self, media: Sequence[Any]) -> torch.Tensor:
        resized = _image.preprocess(media, RESIZE, center_crop=True)
        margin = (RESIZE - IMAGE_SIZE) // 2
        return resized[:, margin:margin + IMAGE_SIZE, margin:margin + IMAGE_SIZE].contiguous()

    def collate(self, prepared: Sequence[torch.Tensor]) -> dict[str, Any]:
        return _image.stack(prepared)

    def forward(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        return _image.encode(self, batch, MEAN, STD, self.model)


def _create(info: EncoderInfo, preset: str) -> IRResNet:
    model = IRResNet(STAGES[preset])
    check_output_dim(info, preset, STAGES[preset][-1][0], "its last stage")
    return model


def build_random(info: EncoderInfo, preset: str, *, device: str = "cpu") -> IRResNetEncoder:
    with seeded(), torch.device(device):
        model = _create(info, preset)
    return IRResNetEncoder(info, preset, model, weights_path=None,
                           source=RANDOM_WEIGHTS_SOURCE)


def load(info: EncoderInfo, preset: str, weights: str | Path | None, *, trust_remote_code: bool,
         download_root: str | Path | None) -> IRResNetEncoder:
    """Strict load of the authors' checkpoint (their VisualBackbone's state dict: the `backbone.` prefix removed,
    the `logits.` classifier dropped) or a saved directory; `trust_remote_code`/`download_root` do not apply."""
    if preset == "tiny" and weights is None:
        return build_random(info, preset)
    path, state = read_plain_state(info, preset, weights, HOW_TO_GET)
    state = {key.removeprefix("backbone."): value for key, value in state.items() if not key.startswith("logits.")}
    model = load_plain_state(_create(info, preset), state, path, info, preset)
    return IRResNetEncoder(info, preset, model, weights_path=path, source=f"checkpoint {path}")


def save(encoder: IRResNetEncoder, directory: Path) -> Path:
    """model.safetensors + config.json (the preset and the stages it was built with)."""
    return save_plain_state(encoder, directory, {"stages": [list(stage) for stage in STAGES[encoder.preset]]})
