"""`FeatureRequest`: what a caller wants of the feature cache, in one typed value instead of 12–18 keywords.

`ensure_features`, `open_store` and `find_cached_store` (one split of the request's task per call), `extract_items`
and `open_items` (an encoder already built, and the items to cover), and `build_text_windows` /
`build_token_windows` (the windows of a text encoder) all take one. `run` builds one per encoder input from its
RunConfig and `extract` from its flags, so both ask for the same features the same way and a run finds what
`extract` cached.

The request is not the cache key: `harness.features.cache` hashes the encoder's own fingerprint and cache
parameters with the resolved dtype and the cuts (`pipeline._layout`), so building a request changes no key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from abaw_bench.harness.encoders.base import Encoder

ASR_ENCODER = "whisper-large-v3"  # the encoder whose cached transcripts a text encoder reads when an item has none

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class FeatureRequest:
    """The features of one encoder on one task's dataset, and how to extract the ones the cache misses.

    Which features (what the cache key is made of; the same request finds the same folder):
        task, encoder, preset   the task (its reader lists a split's items) and the registered encoder and preset
        weights                 a checkpoint for the encoder (None: the preset's published or random weights), with
                                `trust_remote_code` and `download_root` saying how it may be loaded
        dtype                   compute precision, "auto" (bf16 on CUDA, fp32 on the CPU), "fp32", "bf16", "fp16"
        max_seconds             audio (and asr) cut in seconds; never applied to text, whose transcript covers the
                                whole clip
        max_frames              face crops kept per clip (image encoders)
        asr_weights             the checkpoint of the asr encoder (ASR_ENCODER) whose transcripts a text encoder
                                embeds for items without a transcript of their own
    Where: `data_root` (the dataset; the items' media identities are taken relative to it) and `device`.
    How, never part of the key:
        batch_size              clips per forward pass (None: 8 for extraction, 64 windows for `build_text_windows`)
        images_per_batch        face crops per forward pass of an image encoder (None: 512)
        num_workers             decode workers (None: the device's default, 4–8 on CUDA, one on the CPU)
        skip_bad                an item whose media yield no features is recorded and left out instead of stopping
                                the run (also: a cache that skipped items counts as complete in `find_cached_store`)
        progress                draw a progress bar
    """

    task: str
    encoder: str
    preset: str
    data_root: Path
    weights: PathLike | None = None
    trust_remote_code: bool = False
    download_root: PathLike | None = None
    asr_weights: PathLike | None = None
    device: str = "cpu"
    dtype: str = "auto"
    max_seconds: float | None = None
    max_frames: int | None = None
    batch_size: int | None = None
    images_per_batch: int | None = None
    num_workers: int | None = None
    skip_bad: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_root", Path(self.data_root))

    @classmethod
    def for_encoder(cls, encoder: Encoder, task: str, data_root: PathLike, **settings: Any) -> FeatureRequest:
        """The request an already built `encoder` answers (`extract_items`'s callers): its name, preset, device and
        dtype, plus `settings` (any other field)."""
        return cls(task=task, encoder=encoder.info.name, preset=encoder.preset, data_root=Path(data_root),
                   device=str(getattr(encoder, "device", "cpu")), dtype=getattr(encoder, "dtype", "fp32"),
                   **settings)

    def with_encoder(self, encoder: str, weights: PathLike | None = None) -> FeatureRequest:
        """The same request for another encoder of the same preset (e.g. the asr encoder a text encoder needs)."""
        return replace(self, encoder=encoder, weights=weights, trust_remote_code=False, asr_weights=None,
                       max_frames=None, images_per_batch=None)

    def asr(self) -> FeatureRequest:
        """The request for the asr transcripts this request's text encoder embeds: ASR_ENCODER, same preset, dtype,
        device, cut and extraction settings, weights from `asr_weights`."""
        return self.with_encoder(ASR_ENCODER, self.asr_weights)
