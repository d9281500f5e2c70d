"""Encoder registry. Importing this package and listing the encoders does not import torch; building one does.

Encoders register themselves: the registry scans this package's public modules (harness/registry.py), and each
declares its `EncoderInfo`s with `register_encoder`. An info's `family` names the module that builds it (the contract
that module provides: `harness/encoders/base.py`), imported only when an encoder is built. So a new encoder is one
file here. Every encoder has two presets: `paper` (the published architecture and weights) and `tiny` (the same code
with a small configuration, seeded random weights unless a saved tiny checkpoint is given — for tests and the demo).

    load_encoder("wav2vec2-vad", "paper")                    # HF cache; downloaded first unless HF_HUB_OFFLINE=1
    load_encoder("wav2vec2-vad", "paper", weights="~/w2v2")  # a save_pretrained directory
    load_encoder("wav2vec2-vad", "tiny")                     # random weights, deterministic
    build_random("wav2vec2-vad", "paper")                    # full-size architecture, random init (profile)
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, cast

from abaw_bench.harness.encoders.base import PRESETS, Encoder, EncoderFamily, EncoderInfo
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.registry import Registry

ENCODERS: Registry[EncoderInfo] = Registry("encoder", plugin_packages=("abaw_bench.harness.encoders",))


def register_encoder(info: EncoderInfo) -> EncoderInfo:
    """Make `info` known under its name; called at the top of the module that declares it."""
    return ENCODERS.register(info.name)(info)


def encoder_info(name: str) -> EncoderInfo:
    return ENCODERS.get(name)


def _family(name: str) -> tuple[EncoderInfo, EncoderFamily]:
    """`name`'s info and the module that builds it (imported here, the first time torch is)."""
    info = encoder_info(name)
    return info, cast(EncoderFamily, importlib.import_module(info.family))


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
