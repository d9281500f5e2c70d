"""timm image backbones on face crops, one pooled feature vector per image (classifier removed, num_classes=0):

| encoder        | paper architecture (checkpoint)              | D    | size | tiny architecture              |
|----------------|----------------------------------------------|------|------|--------------------------------|
| mobilenetv3    | mobilenetv3_large_100 (.ra_in1k)             | 1280 | 112  | mobilenetv3_small_050 (1024)   |
| efficientnetv2 | efficientnetv2_rw_t (.ra2_in1k)              | 1024 | 112  | test_efficientnet, 48 px (256) |
| resnet50       | resnet50 (.a1_in1k; wen2024: face weights)   | 2048 | 224  | 1 block per stage, 56 px (256) |
| seresnet50     | seresnet50 (.a1_in1k; wen2024: face weights) | 2048 | 224  | the same with SE blocks (256)  |
| eva02-large    | eva02_large_patch14_224 (.mim_in22k)         | 1024 | 224  | 2 blocks of width 32, 28 px    |

wen2024 fine-tunes MobileNetV3 (bilinear resize) and EfficientNetV2 end to end on 112 px
crops for expressions and reads frozen ResNet-50, SE-ResNet-50 and EVA02 features at 224 px for valence-arousal. The
EfficientNetV2 size is the one the authors' expression code builds (timm `efficientnetv2_rw_t.ra2_in1k`, 1024-d; the
paper only says "EfficientNetV2"), also the smallest EfficientNetV2, near MobileNetV3 in cost.
Their "ResNet"/"SENet" features come from face-pretrained networks (MERBench's feature set:
VGGFace2 ResNet-50 / SENet-50 fine-tuned on FER+), which are not timm checkpoints: converted to timm's
`resnet50`/`seresnet50` key names they load through `--weights`. Those networks are Caffe-style (a stage's stride
sits in its first 1×1 reduction, timm puts it in the 3×3), so converted weights approximate them; the normalisation
they need is read from the `pretrained_cfg` (mean/std) of a config.json beside the weights, as for any timm hub
checkpoint.

Weights: a timm state dict (.safetensors/.pth/.bin) or a directory holding one in the Hugging Face hub layout
(model.safetensors + config.json); without `--weights` the paper preset looks in the Hugging Face cache for the model
id, fetched there on first use as timm's `pretrained=True` would (harness/encoders/weights.py), but loaded here
strictly. A checkpoint's classifier weights are dropped; any other missing or unexpected weight is an error (timm's own
loader would only log it). Images are resized straight to size² (Aff-Wild2 crops are square) and normalised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import timm
import torch
from abaw_bench.harness import torchfiles
from abaw_bench.harness.atomic import atomic_path, write_json
from abaw_bench.harness.encoders import _image
from abaw_bench.harness.encoders._common import (
    RANDOM_WEIGHTS_SOURCE,
    TorchEncoder,
    check_output_dim,
    hub_snapshot,
    missing_weights_error,
    read_config_json,
    seeded,
)
from abaw_bench.harness.encoders._image import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD
from abaw_bench.harness.encoders.base import EncoderInfo
from abaw_bench.harness.encoders.weights import hf_cache_dir
from abaw_bench.harness.errors import AbawError
from safetensors.torch import save_file

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TINY_RESNET = {"layers": [1, 1, 1, 1], "channels": [8, 16, 32, 64], "stem_width": 8}


@dataclass(frozen=True)
class Backbone:
    """One encoder's timm architecture per preset, its input size and normalisation."""

    architecture: Mapping[str, str]  # preset -> timm model name
    image_size: Mapping[str, int]  # preset -> pixels (square)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    resample: str = "bicubic"
    model_args: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # preset -> create_model kwargs


BACKBONES: dict[str, Backbone] = {
    "mobilenetv3": Backbone({"paper": "mobilenetv3_large_100", "tiny": "mobilenetv3_small_050"},
                            {"paper": 112, "tiny": 112}, resample="bilinear"),
    "efficientnetv2": Backbone({"paper": "efficientnetv2_rw_t", "tiny": "test_efficientnet"},
                               {"paper": 112, "tiny": 48}),
    "resnet50": Backbone({"paper": "resnet50", "tiny": "resnet50"}, {"paper": 224, "tiny": 56},
                         model_args={"tiny": TINY_RESNET}),
    "seresnet50": Backbone({"paper": "seresnet50", "tiny": "seresnet50"}, {"paper": 224, "tiny": 56},
                           model_args={"tiny": TINY_RESNET}),
    "eva02-large": Backbone({"paper": "eva02_large_patch14_224", "tiny": "eva02_large_patch14_224"},
                            {"paper": 224, "tiny": 28}, CLIP_MEAN, CLIP_STD,
                            model_args={"tiny": {"img_size": 28, "embed_dim": 32, "depth": 2, "num_heads": 2,
                                                 "ref_feat_shape": [2, 2]}}),
}


@dataclass(frozen=True)
class Build:
    """What `timm.create_model` is called with, and the preprocessing that goes with those weights."""

    architecture: str
    model_args: Mapping[str, Any]
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


class TimmImageEncoder(TorchEncoder):
    """A list of face images → [N images, D] (the timm model's pooled pre-logits features)."""

    def __init__(self, info: EncoderInfo, preset: str, model: torch.nn.Module, build: Build, *,
                 weights_path: Path | None, source: str) -> None:
        super().__init__(info, preset, model, weights_path=weights_path, source=source)
        self.build = build
        self.architecture = build.architecture
        self.resample = BACKBONES[info.name].resample

    def cache_params(self) -> dict[str, Any]:
        return {"architecture": self.architecture, "model_args": dict(self.build.model_args),
                "image_size": self.build.image_size, "mean": self.build.mean, "std": self.build.std,
                "resample": self.resample, "pooling": "timm pre-logits pooling (num_classes=0)"}

    def prepare(self, media: Sequence[Any]) -> torch.Tensor:
        return _image.preprocess(media, self.build.image_size, resample=self.resample)

    def collate(self, prepared: Sequence[torch.Tensor]) -> dict[str, Any]:
        return _image.stack(prepared)

    def forward(self, batch: dict[str, Any]) -> list[torch.Tensor]:
        return _image.encode(self, batch, self.build.mean, self.build.std, self.model)


def _preset_build(info: EncoderInfo, preset: str) -> Build:
    backbone = BACKBONES[info.name]
    return Build(backbone.architecture[preset], dict(backbone.model_args.get(preset, {})),
                 backbone.image_size[preset], backbone.mean, backbone.std)


def _create(info: EncoderInfo, preset: str, build: Build) -> torch.nn.Module:
    model = timm.create_model(build.architecture, pretrained=False, num_classes=0, **build.model_args)
    width = getattr(model, "head_hidden_size", None) or model.num_features
    check_output_dim(info, preset, width, f"{build.architecture} with {dict(build.model_args)}")
    return model


def build_random(info: EncoderInfo, preset: str, *, device: str = "cpu") -> TimmImageEncoder:
    build = _preset_build(info, preset)
    with seeded(), torch.device(device):
        model = _create(info, preset, build)
    return TimmImageEncoder(info, preset, model, build, weights_path=None,
                            source=RANDOM_WEIGHTS_SOURCE)


def _weight_file(info: EncoderInfo, weights: str | Path | None) -> Path:
    how = (f"Put a timm checkpoint (model.safetensors from the Hugging Face repo {info.model_id}, or a .pth state "
           f"dict) at a path and pass --weights FILE_OR_DIR, or place the repo in the Hugging Face cache "
           f"{hf_cache_dir()}.")
    path = hub_snapshot(info, how) if weights is None else Path(weights).expanduser()
    if path.is_dir():
        path = next((path / name for name in WEIGHT_FILES if (path / name).is_file()), path / WEIGHT_FILES[0])
    if not path.is_file():
        raise missing_weights_error(info, str(path), how)
    return path


def _checkpoint_build(info: EncoderInfo, preset: str, weight_file: Path) -> Build:
    """The preset's build, overridden by a timm config.json beside the weights (model_args and pretrained_cfg
    mean/std; its architecture must be the preset's), so a saved tiny checkpoint or a converted face checkpoint reloads
    as it was made."""
    build = _preset_build(info, preset)
    path = weight_file.parent / "config.json"
    if not path.is_file():
        return build
    config = read_config_json(path, "timm config.json")
    architecture = config.get("architecture", build.architecture)
    model_args = config.get("model_args", {}) if "architecture" in config else build.model_args
    pretrained = config.get("pretrained_cfg") or {}
    if not isinstance(architecture, str) or not isinstance(model_args, dict) or not isinstance(pretrained, dict):
        raise AbawError(f"{path}: expected 'architecture' text and 'model_args'/'pretrained_cfg' objects")
    if architecture != build.architecture:
        raise AbawError(f"{path}: the checkpoint is a {architecture[:80]!r}, but encoder {info.name!r} [{preset}] is a "
                        f"{build.architecture!r}")
    mean = _channels(path, "mean", pretrained.get("mean", build.mean))
    std = _channels(path, "std", pretrained.get("std", build.std))
    if min(std) <= 0:
        raise AbawError(f"{path}: pretrained_cfg.std must be positive, found {list(std)}")
    return Build(architecture, model_args, build.image_size, mean, std)


def _channels(path: Path, key: str, value: Any) -> tuple[float, ...]:
    """A per-channel (RGB) normalisation constant from a config.json."""
    if (not isinstance(value, (list, tuple)) or len(value) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise AbawError(f"{path}: pretrained_cfg.{key} must be 3 numbers (R, G, B), found {str(value)[:80]}")
    return tuple(float(v) for v in value)


def load(info: EncoderInfo, preset: str, weights: str | Path | None, *, trust_remote_code: bool,
         download_root: str | Path | None) -> TimmImageEncoder:
    """A timm state dict loaded strictly (classifier weights dropped); `trust_remote_code`/`download_root` do not
    apply to timm models."""
    if preset == "tiny" and weights is None:
        return build_random(info, preset)
    path = _weight_file(info, weights)
    build = _checkpoint_build(info, preset, path)
    try:
        model = _create(info, preset, build)
    except (RuntimeError, KeyError, TypeError, ValueError) as error:  # an unknown architecture or model_args
        raise AbawError(f"{path.parent / 'config.json'}: cannot build {build.architecture} with "
                        f"{dict(build.model_args)}: {error}") from error
    with torchfiles.reading(path, f"checkpoint of encoder {info.name!r}"):
        state = timm.models.load_state_dict(str(path), weights_only=True)
    classifier = model.pretrained_cfg.get("classifier") or ()
    for name in (classifier,) if isinstance(classifier, str) else classifier:
        state.pop(f"{name}.weight", None)
        state.pop(f"{name}.bias", None)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shape mismatches
        raise AbawError(f"the checkpoint {path} does not fit encoder {info.name!r} ({build.architecture}): "
                        f"{str(error)[:400]}") from error
    if result.missing_keys or result.unexpected_keys:
        raise AbawError(f"the checkpoint {path} is not a {build.architecture} checkpoint for encoder {info.name!r}: "
                        f"{len(result.missing_keys)} weights missing (e.g. {', '.join(result.missing_keys[:3])}), "
                        f"{len(result.unexpected_keys)} unexpected (e.g. {', '.join(result.unexpected_keys[:3])})")
    return TimmImageEncoder(info, preset, model.eval(), build, weights_path=path, source=f"checkpoint {path}")


def save(encoder: TimmImageEncoder, directory: Path) -> Path:
    """The HF-hub timm layout: model.safetensors + config.json (architecture, model_args, pretrained_cfg mean/std)."""
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in encoder.model.state_dict().items()}
    with atomic_path(directory / "model.safetensors") as temporary:
        save_file(state, str(temporary))
    write_json(directory / "config.json", {
        "architecture": encoder.architecture, "model_args": dict(encoder.build.model_args), "num_classes": 0,
        "num_features": encoder.output_dim,
        "pretrained_cfg": {"mean": list(encoder.build.mean), "std": list(encoder.build.std)}})
    return directory
