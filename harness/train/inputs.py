"""Input building for a run: one source per variant input and split, and the encoders' provenance.

A variant input is served by one of three families (harness/systems.py, "Input names"):
- an encoder's cached features (`harness.features`, memory-mapped, extracted on first use);
- the organisers' feature pickles ("provided:<kind>"), converted once through the restricted unpickler into the
  feature cache and memory-mapped from there;
- an unfrozen encoder: decoded media prepared per item (or, under frame-level sampling, per sample: face crops, a
  token window, a waveform window) in the DataLoader workers, run inside the training step.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.features.request import ASR_ENCODER, FeatureRequest
from abaw_bench.harness.runtime import distributed
from abaw_bench.harness.systems import DATASET_TRANSCRIPT, Hyper, SystemSpec, Variant
from abaw_bench.harness.tasks.base import Item
from abaw_bench.harness.train.config import RunConfig
from abaw_bench.harness.train.data import PreparedSource

PROVIDED_PREFIX = "provided:"
# Widths of the organisers' pickles (the EMI release's vit/ and wav2vec2/ folders); only `info` uses them — a run
# reads the width from the data.
PROVIDED_DIMS = {"vit": 384, "wav2vec2": 768}


def load_request(config: RunConfig, encoder_name: str) -> dict[str, Any]:
    """How a run loads `encoder_name` (the `load_encoder` keywords): the --weights, --trust-remote-code and
    --download-root it was given, the same flags `extract` takes, so a run finds what `extract` cached."""
    return {"weights": config.weights.get(encoder_name), "trust_remote_code": config.trust_remote_code,
            "download_root": config.download_root}


class ProvidedSource:
    """The organisers' per-item feature pickles ("provided:vit" → item.media["vit"]): each is read once through the
    restricted unpickler into the feature cache (`harness.features.provided`), then memory-mapped like any cached
    feature. `paths`: item id → pickle."""

    def __init__(self, items: list[Item], kind: str, *, progress: bool = True) -> None:
        from abaw_bench.harness.features.provided import provided_store

        self.kind = kind
        self.store = provided_store(items, kind, progress=progress)
        self.paths = self.store.pickles
        self.dim = self.store.dim if self.store.dim is not None else PROVIDED_DIMS.get(kind, 0)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.store

    def get(self, item_id: str) -> np.ndarray:
        return self.store.get(item_id)


class InputBuilder:
    """Builds one split's sources for every input of the variant and remembers the encoders' provenance.

    `skipped` (split → item id → reason) collects the items whose media gave no features under --skip-bad
    (`RunConfig.skip_bad`): the feature stores record them instead of stopping, and the split builders
    (harness/train/datasets.py) leave them out. Without --skip-bad such an item stops the run with its MediaError.
    """

    def __init__(self, spec: SystemSpec, task: str, variant: Variant, config: RunConfig, hyper: Hyper,
                 data_root: Path, context: distributed.DistContext) -> None:
        self.spec, self.task, self.variant, self.config, self.hyper = spec, task, variant, config, hyper
        self.data_root, self.context = data_root, context
        self.encoders: dict[str, Any] = {}  # unfrozen: input name -> built Encoder
        self.provenance: dict[str, dict[str, Any]] = {}
        self.skipped: dict[str, dict[str, str]] = {}
        for name in variant.unfrozen:
            self.encoders[name] = self._load_unfrozen(name)

    def encoder_name(self, name: str) -> str:
        return self.spec.encoder_for(self.task, name, self.config.preset)

    def modality(self, name: str) -> str:
        """"image", "audio", "text" or "asr" for an encoder input; "provided" for the organisers' pickles."""
        from abaw_bench.harness.encoders import encoder_info

        encoder_name = self.encoder_name(name)
        return "provided" if encoder_name.startswith(PROVIDED_PREFIX) else encoder_info(encoder_name).modality

    def frame_alignment(self, name: str) -> str | None:
        """The encoder's declared frame alignment (EncoderInfo.frame_alignment, e.g. "spread"); None otherwise."""
        from abaw_bench.harness.encoders import encoder_info

        encoder_name = self.encoder_name(name)
        return None if encoder_name.startswith(PROVIDED_PREFIX) else encoder_info(encoder_name).frame_alignment

    def frame_loader(self, name: str, items: list[Item], frame_rates: dict[str, float]) -> Any:
        """An unfrozen encoder under a frame sampling: (item id, rows) → the encoder's prepared input. An image
        encoder reads the face crops at the sample's face-crop rows; an audio encoder (centred sampling only) the
        waveform window centred on the sample's frame, from its video's decoded track (`frame_rates`: item id →
        frames per second)."""
        encoder = self.encoders[name]
        if encoder.info.modality == "audio" and self.hyper.sampling == "centred":
            from abaw_bench.harness.features.waveforms import ensure_waveforms
            from abaw_bench.harness.train.windows import WaveformWindows

            store = ensure_waveforms(self.task, items, self.data_root, device=str(self.context.device),
                                     progress=self.config.progress and self.context.is_main)
            return WaveformWindows(store, frame_rates, self.hyper.centred_seconds[name], encoder.prepare)
        if encoder.info.modality != "image":
            raise AbawError(f"input {name!r}: only image encoders, and audio encoders under centred sampling, can be "
                            "fine-tuned under frame-level sampling")
        folders = {item.id: item.media["faces"] for item in items if "faces" in item.media}
        missing = [item.id for item in items if item.id not in folders]
        if missing:
            raise AbawError(f"video {missing[0][:120]!r} has no face-crop folder to decode for input {name!r}")
        return _FaceRowsLoader(folders, encoder.prepare)

    def feature_request(self, encoder_name: str, **fields: Any) -> FeatureRequest:
        """How this run asks for `encoder_name`'s features: with the `load_request` flags `extract` takes too (so a
        run finds what `extract` cached) and the asr encoder's --weights, on this rank's device, with the run's
        decode workers (None: the device's default), progress and --skip-bad; `fields` sets any other field."""
        return FeatureRequest(**{
            "task": self.task, "encoder": encoder_name, "preset": self.config.preset, "data_root": self.data_root,
            **load_request(self.config, encoder_name), "asr_weights": self.config.weights.get(ASR_ENCODER),
            "device": str(self.context.device), "num_workers": self.config.num_workers or None,
            "progress": self.config.progress and self.context.is_main, "skip_bad": self.config.skip_bad, **fields})

    def _window_request(self, name: str, grids: Any,
                        hyper: Hyper) -> tuple[FeatureRequest, str, dict[str, list[int]]]:
        """(the request, transcript source, the frames the sampler visits per item) for a centred text input: the
        encoders (text and asr) compute in the run's precision, the asr with the transcript source's --weights."""
        transcript = self.spec.transcript_for(self.task, name, self.config.preset)
        frames_by_item = {grid.item_id: list(range(0, grid.n_frames, hyper.frame_step)) for grid in grids.grids}
        request = self.feature_request(self.encoder_name(name), dtype=self.config.precision,
                                       asr_weights=self.config.weights.get(transcript or ""))
        return request, transcript, frames_by_item

    def token_windows(self, name: str, items: list[Item], grids: Any, hyper: Hyper,
                      frame_rates: dict[str, float]) -> Any:
        """A fine-tuned text input under centred sampling: the token ids of the words around every frame the sampler
        visits (the same words `window_source` encodes), for the encoder to run inside the training step."""
        from abaw_bench.harness.features.text_windows import build_token_windows

        request, transcript, frames_by_item = self._window_request(name, grids, hyper)
        return self._note_skipped(items, build_token_windows(self.encoders[name], request, items, transcript,
                                                             frame_rates, hyper.centred_seconds[name],
                                                             frames_by_item))

    def window_source(self, name: str, items: list[Item], grids: Any, hyper: Hyper,
                      frame_rates: dict[str, float]) -> Any:
        """A frozen text input under centred sampling: the encoded words around every frame the sampler visits, each
        frame at frame / (its video's `frame_rates`) seconds."""
        from abaw_bench.harness.features.text_windows import build_text_windows

        encoder_name = self.encoder_name(name)
        request, transcript, frames_by_item = self._window_request(name, grids, hyper)
        source = build_text_windows(request, items, transcript, frame_rates, hyper.centred_seconds[name],
                                    frames_by_item)
        self.provenance.setdefault(name, {"encoder": encoder_name, "fingerprint": getattr(source, "fingerprint", None),
                                          "weights": getattr(source, "weights_source", "unknown"),
                                          "random_weights": bool(getattr(source, "is_random", False))})
        return self._note_skipped(items, source)

    def _note_skipped(self, items: list[Item], windows: Any) -> Any:
        """Record the items a window build found without asr words (--skip-bad), under their splits."""
        split_of = {item.id: item.split for item in items}
        for item_id, reason in windows.skipped.items():
            self.skipped.setdefault(split_of[item_id], {})[item_id] = reason
        return windows

    def _limits(self, modality: str) -> dict[str, Any]:
        return {"max_seconds": self.hyper.max_seconds if modality in ("audio", "asr", "text") else None,
                "max_frames": self.hyper.max_frames if modality == "image" else None}

    def _load_unfrozen(self, name: str) -> Any:
        from abaw_bench.harness.encoders import encoder_info, load_encoder

        encoder_name = self.encoder_name(name)
        modality = encoder_info(encoder_name).modality
        if modality == "text" and self.hyper.sampling == "centred":
            from abaw_bench.harness.features.text_windows import MarkerTextEncoder

            # the encoder with the [ATTENTION] token added, trained with its embedding row (token windows per sample)
            encoder: Any = MarkerTextEncoder(encoder_name, self.config.preset,
                                             **load_request(self.config, encoder_name),
                                             device=str(self.context.device))
            marker = {"marker_token": "[ATTENTION], its embedding row learned (starts at the vocabulary mean)"}
        else:
            # an audio encoder keeps the clip's first max_seconds; under centred sampling its input is one window
            seconds = self.hyper.centred_seconds.get(name) if self.hyper.sampling == "centred" \
                else self.hyper.max_seconds
            options = {"max_seconds": seconds} if modality == "audio" and seconds else {}
            # trainable: every parameter requires grad and layerdrop is off, so DDP never meets a skipped layer
            encoder = load_encoder(encoder_name, self.config.preset, **load_request(self.config, encoder_name),
                                   device=str(self.context.device), trainable=True, **options)
            marker = {}
        self.provenance[name] = {"encoder": encoder_name, "fingerprint": encoder.fingerprint(), "unfrozen": True,
                                 "weights": encoder.weights_source, "random_weights": encoder.is_random, **marker}
        return encoder

    def sources(self, split: str,
                items: list[Item]) -> tuple[dict[str, Any], dict[str, PreparedSource], dict[str, int]]:
        """(feature sources, prepared sources, input dims) for `items` of `split`."""
        features: dict[str, Any] = {}
        prepared: dict[str, PreparedSource] = {}
        dims: dict[str, int] = {}
        for name in self.variant.inputs:
            encoder_name = self.encoder_name(name)
            if self.hyper.sampling == "centred" and self.modality(name) == "text":
                continue  # served per sample by the word windows around each frame (window_source), not per item
            if name in self.encoders:
                encoder = self.encoders[name]
                asr_paths = self._asr_transcripts(name, split, items) if encoder.info.modality == "text" else {}
                servable = [item for item in items if item.id not in self.skipped.get(split, {})]
                prepared[name] = PreparedSource(_media_loader(servable, encoder.info.modality, self.hyper,
                                                              asr_paths), encoder.prepare)
                dims[name] = encoder.output_dim
            elif encoder_name.startswith(PROVIDED_PREFIX):
                source = ProvidedSource(items, encoder_name[len(PROVIDED_PREFIX):],
                                        progress=self.config.progress and self.context.is_main)
                features[name], dims[name] = source, source.dim
                self.provenance.setdefault(name, {"encoder": encoder_name, "fingerprint": None,
                                                  "weights": "the organisers' feature pickles"})
            else:
                store = self._store(encoder_name, split)
                features[name], dims[name] = store, int(store.dim)
                self.provenance.setdefault(name, {"encoder": encoder_name,
                                                  "fingerprint": store.summary.get("fingerprint"),
                                                  "weights": store.summary.get("weights", "unknown"),
                                                  "random_weights": bool(store.summary.get("random_weights"))})
        return features, prepared, dims

    def _asr_transcripts(self, name: str, split: str, items: list[Item]) -> dict[str, Path]:
        """A fine-tuned text input's transcripts for the items without a dataset transcript: the cached output of the
        role's asr encoder (extracted now if missing), as the frozen path's extraction reads them."""
        transcript = self.spec.transcript_for(self.task, name, self.config.preset)
        if transcript in (None, DATASET_TRANSCRIPT) or all("transcript" in item.media for item in items):
            return {}
        store = self._store(transcript, split)
        return {item.id: store.path(item.id) for item in items
                if "transcript" not in item.media and item.id not in store.skipped}

    def skipped_in(self, splits: tuple[str, ...]) -> dict[str, str]:
        """item id → why it has no features, over `splits` (only what the sources built so far found)."""
        return {item_id: reason for split in splits for item_id, reason in self.skipped.get(split, {}).items()}

    def _store(self, encoder_name: str, split: str) -> Any:
        """Cached features: what `extract` already cached for this configuration in any dtype (the run's log says
        which), else extracted now. Every rank takes part: under torchrun each extracts its shard and all ranks get
        the same store, so no rank waits idle at a barrier through a long extraction."""
        from abaw_bench.harness.encoders import encoder_info
        from abaw_bench.harness.features import ensure_features
        from abaw_bench.harness.features.lookup import find_cached_store

        request = self.feature_request(encoder_name, **self._limits(encoder_info(encoder_name).modality))
        # Rank 0 alone looks (one encoder build for the fingerprint) and tells the others, so that every rank takes
        # the same branch below: some ranks extracting while others do not would deadlock.
        store, explanation = find_cached_store(request, split) if self.context.is_main else (None, "")
        store = distributed.broadcast_object(self.context, store)
        if self.context.is_main and self.config.progress and explanation:
            print(f"[abaw-bench] {encoder_name} {split}: {explanation}", file=sys.stderr)
        if store is None:
            store = ensure_features(request, split)
        self.skipped.setdefault(split, {}).update(store.skipped)
        return store


def _media_loader(items: list[Item], modality: str, hyper: Hyper, asr_paths: dict[str, Path] | None = None) -> Any:
    """item id → decoded media for an unfrozen encoder (same decoding as feature extraction); a text item without a
    transcript of its own reads its asr transcript from `asr_paths`."""
    from abaw_bench.harness.features.cache import Source
    from abaw_bench.harness.features.pipeline import decode_source

    kinds = {"audio": ("audio", ("audio", "video")), "image": ("faces", ("faces",)),
             "text": ("transcript", ("transcript",))}
    if modality not in kinds:
        raise AbawError(f"cannot fine-tune an encoder of modality {modality!r} end to end")
    kind, media_kinds = kinds[modality]
    paths: dict[str, Path] = {}
    item_kinds: dict[str, str] = {}
    for item in items:
        path = next((item.media[k] for k in media_kinds if k in item.media), None)
        item_kinds[item.id] = kind
        if path is None and asr_paths and item.id in asr_paths:
            path, item_kinds[item.id] = asr_paths[item.id], "asr"
        if path is None:
            raise AbawError(f"item {item.id!r} ({item.split}) has no {' or '.join(media_kinds)} media to decode")
        paths[item.id] = path
    return _DecodeBySource(paths, item_kinds, hyper.max_seconds, hyper.max_frames, Source, decode_source)


@dataclass(frozen=True)
class _DecodeBySource:
    """Picklable for DataLoader workers."""

    paths: dict[str, Path]
    kinds: dict[str, str]  # item id -> the Source kind ("audio", "faces", "transcript" or "asr")
    max_seconds: float | None
    max_frames: int | None
    source_type: Any
    decode: Any

    def __call__(self, item_id: str) -> Any:
        return self.decode(self.source_type(self.kinds[item_id], self.paths[item_id]), max_seconds=self.max_seconds,
                           max_frames=self.max_frames)


def merged_sources(builder: InputBuilder, reader: Any, splits: tuple[str, ...]) -> tuple[dict, dict, dict]:
    """Train+val rows: one source per input serving items of both splits (each split has its own cache)."""
    parts = [builder.sources(split, reader.items(split)) for split in splits]
    features = {name: _UnionSource([part[0][name] for part in parts]) for name in parts[0][0]}
    prepared = {name: _UnionPrepared([part[1][name] for part in parts]) for name in parts[0][1]}
    return features, prepared, parts[0][2]


@dataclass(frozen=True)
class _UnionSource:
    sources: list[Any]

    @property
    def dim(self) -> int:
        return self.sources[0].dim

    def get(self, item_id: str) -> np.ndarray:
        for source in self.sources:
            if item_id in source:
                return source.get(item_id)
        raise KeyError(item_id)


@dataclass(frozen=True)
class _UnionPrepared:
    sources: list[PreparedSource]

    def get(self, item_id: str) -> Any:
        for source in self.sources:
            if item_id in source.load_media.paths:
                return source.get(item_id)
        raise KeyError(item_id)




def max_rows(variant: Variant, hyper: Hyper, builder: InputBuilder) -> dict[str, int | None]:
    """Vision inputs keep their first `max_frames` rows (the cache already cut audio to `max_seconds`)."""
    from abaw_bench.harness.encoders import encoder_info

    limits: dict[str, int | None] = {}
    for name in variant.inputs:
        encoder_name = builder.encoder_name(name)
        image = (encoder_name == f"{PROVIDED_PREFIX}vit" or
                 (not encoder_name.startswith(PROVIDED_PREFIX) and encoder_info(encoder_name).modality == "image"))
        limits[name] = hyper.max_frames if image else None
    return limits


@dataclass(frozen=True)
class _FaceRowsLoader:
    """Decodes the face crops at given rows of a video's crop folder (natural frame order) for an unfrozen image
    encoder; picklable for DataLoader workers."""

    folders: dict[str, Path]
    prepare: Any

    def __call__(self, item_id: str, rows: np.ndarray) -> Any:
        from abaw_bench.harness.media import list_frames, load_face_crop

        files = list_frames(self.folders[item_id])
        return self.prepare([load_face_crop(files[row]) for row in rows.tolist()])
