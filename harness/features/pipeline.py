"""Cached feature extraction: decode in DataLoader workers, bucket by length, forward on the device, write per item.

The flow for one split: pick each item's source (audio / face crops / transcript / cached asr transcript), read its
length from the container header (no decoding), plan length-bucketed batches over the *whole* split, keep this
rank's batches that still miss an entry, then a DataLoader whose workers decode + `encoder.prepare` + `collate`
feeds `encoder.forward` under no_grad, and each item's output is written atomically as soon as its batch is done.

Because the batch plan never depends on what is cached or on the rank, a resumed run (after SIGKILL) or a
`torchrun` run recomputes each missing item in the same batch as an uninterrupted single-process run, so the cache
ends bit-identical. Corrupt media stop the run with the `MediaError`, or with `skip_bad` are recorded in the summary
and left without an entry — never zero-filled.

Under torchrun every rank must call `ensure_features` / `extract_items` (in `run` too): each extracts its shard of
the batches, the ranks then exchange their summaries, and every rank returns the same store. Image encoders batch
by a budget of images (`images_per_batch`), not by a number of clips; workers send uint8 crops that are normalised
on the device (`loading` bounds the shared memory they fill), and a writer thread (`writer`) does the file writes.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from abaw_bench.harness.atomic import atomic_path, write_json
from abaw_bench.harness.encoders.base import Encoder
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.features.bucketing import LengthBucketBatchSampler, padded_fraction, plan_batches
from abaw_bench.harness.features.cache import Source, cache_dir, config_digest, entry_name, media_identity
from abaw_bench.harness.features.loading import loader_settings
from abaw_bench.harness.features.request import FeatureRequest
from abaw_bench.harness.features.store import FeatureStore, entry_problem
from abaw_bench.harness.features.writer import EntryWriter
from abaw_bench.harness.jsonio import BadJson, read_json
from abaw_bench.harness.media import (
    MediaError,
    count_frames,
    load_audio,
    load_face_frames,
    media_duration,
    require_regular_file,
)
from abaw_bench.harness.paths import is_demo_root
from abaw_bench.harness.progress import progress as report_progress
from abaw_bench.harness.tasks.base import Item

DEFAULT_BATCH_SIZE = 8  # clips per forward pass of an audio or text encoder
DEFAULT_IMAGES_PER_BATCH = 512  # face crops per forward pass of an image encoder


# --------------------------------------------------------------------------------------------------- sources

def _source_for(item: Item, modality: str, asr_store: FeatureStore | None) -> Source:
    """The one input the encoder reads for `item`; MediaError when the item has none of the accepted kinds."""
    media = item.media
    if modality in ("audio", "asr"):
        path = media.get("audio") or media.get("video")
        kind = "audio"
    elif modality == "image":
        path, kind = media.get("faces"), "faces"
    elif modality == "text":
        if media.get("transcript") is not None:
            path, kind = media["transcript"], "transcript"
        elif asr_store is not None and item.id in asr_store:
            path, kind = asr_store.path(item.id), "asr"
        else:
            path, kind = None, "transcript"
    else:
        raise ValueError(f"unknown encoder modality {modality!r}")
    if path is None:
        wanted = {"audio": "'audio' or 'video'", "faces": "'faces'",
                  "transcript": "'transcript' (or an asr transcript)"}
        raise MediaError(f"item {item.id!r} has no {wanted[kind]} media (it has: {', '.join(media) or 'none'})")
    return Source(kind, Path(path))


def _source_length(source: Source, max_seconds: float | None, max_frames: int | None) -> float:
    """Length for bucketing, from headers only: seconds of audio, number of face crops, bytes of transcript.

    An unreadable file gets length 0; the worker that decodes it raises the MediaError that names it.
    """
    try:
        if source.kind == "audio":
            seconds = media_duration(source.path)
            return seconds if max_seconds is None else min(seconds, max_seconds)
        if source.kind == "faces":
            frames = count_frames(source.path)
            return frames if max_frames is None else min(frames, max_frames)
        return source.path.stat().st_size
    except (MediaError, OSError):
        return 0.0


def decode_source(source: Source, *, max_seconds: float | None, max_frames: int | None) -> Any:
    """Decoded media in the form `Encoder.prepare` takes: waveform, list of RGB frames, or transcript text."""
    if source.kind == "audio":
        return load_audio(source.path, max_seconds=max_seconds)
    if source.kind == "faces":
        return load_face_frames(source.path, max_frames=max_frames)
    require_regular_file(source.path, "a transcript JSON file")
    try:
        transcript = read_json(source.path)
    except BadJson as error:
        raise MediaError(f"{source.path}: cannot read the transcript JSON ({error.reason})") from None
    if not isinstance(transcript, dict) or not isinstance(transcript.get("text"), str):
        raise MediaError(f"{source.path}: expected a JSON object with a string field 'text'")
    return transcript["text"]


class _DecodedItems:
    """Map-style dataset: index → (index, prepared input, None) or (index, None, error message)."""

    def __init__(self, sources: Sequence[Source | MediaError], encoder: Encoder, max_seconds: float | None,
                 max_frames: int | None) -> None:
        self.sources = sources
        self.encoder = encoder
        self.max_seconds = max_seconds
        self.max_frames = max_frames

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, index: int) -> tuple[int, Any, str | None]:
        source = self.sources[index]
        if isinstance(source, MediaError):
            return index, None, str(source)
        try:
            media = decode_source(source, max_seconds=self.max_seconds, max_frames=self.max_frames)
            return index, self.encoder.prepare(media), None
        except MediaError as error:
            return index, None, str(error)
        except AbawError as error:  # the encoder rejects this item's content (e.g. audio shorter than one frame)
            return index, None, f"{source.path}: {error}"


class _Collate:
    """Runs in the worker too: pads the good items of a batch, passes the errors of the bad ones through."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder

    def __call__(self, samples: list[tuple[int, Any, str | None]]) -> tuple[list[int], Any, dict[int, str]]:
        good = [(index, prepared) for index, prepared, error in samples if error is None]
        errors = {index: error for index, _, error in samples if error is not None}
        batch = self.encoder.collate([prepared for _, prepared in good]) if good else None
        return [index for index, _ in good], batch, errors


# --------------------------------------------------------------------------------------------------- distributed

def finish_distributed() -> None:
    """Leave the torchrun process group (call once at the end of a torchrun'd command)."""
    from abaw_bench.harness.runtime import distributed

    distributed.finish()


# --------------------------------------------------------------------------------------------------- writing

def _to_host(output: Any, encoder: Encoder) -> Any:
    """Start copying one item's output to the host (asynchronously from a GPU; see `_copies_done`)."""
    if encoder.info.modality == "asr":
        return output
    if output.ndim != 2 or output.shape[1] != encoder.output_dim:
        raise RuntimeError(f"encoder {encoder.info.name} returned shape {tuple(output.shape)}, "
                           f"expected [T, {encoder.output_dim}]")
    return output.detach().float().to("cpu", non_blocking=True)


def _copies_done(device: str) -> Callable[[], None] | None:
    """What the writer thread waits on before reading the host copies started so far: a CUDA event, recorded on the
    stream of `device` itself (an event recorded on another GPU's stream would be done before the copies are)."""
    if not device.startswith("cuda"):
        return None
    import torch

    event = torch.cuda.Event()
    event.record(torch.cuda.current_stream(torch.device(device)))
    return event.synchronize


def _write_entry(path: Path, output: Any) -> None:
    if isinstance(output, dict):  # an asr transcript
        write_json(path, output)
        return
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, np.ascontiguousarray(output.numpy(), dtype=np.float32), allow_pickle=False)


def _remove_stale_temporaries(folder: Path, *, before: float) -> None:
    """Delete temp files a killed run left behind (SIGKILL skips atomic_path's cleanup).

    Runs after the ranks' final collective, and only on files last written before this run started: an in-flight
    write of a concurrent run is milliseconds old, never older than a whole run.
    """
    for leftover in folder.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime < before:
                leftover.unlink()


# --------------------------------------------------------------------------------------------------- extraction

def _encoder_limit(encoder: Encoder, requested: float | None, key: str) -> float | None:
    """Decode no more than the encoder keeps: the smaller of the request and the encoder's own `key` parameter."""
    own = encoder.cache_params().get(key)
    limits = [value for value in (requested, own) if value is not None]
    return min(limits) if limits else None


def _layout(encoder: Encoder, task: str, items: Sequence[Item], data_root: Path, *, dtype: str,
            max_seconds: float | None, max_frames: int | None, asr_store: FeatureStore | None):
    """The cache folder and, per item, its source (or the MediaError saying it has none) and entry path."""
    fingerprint = encoder.fingerprint()
    extraction = {"dtype": dtype, "max_seconds": max_seconds, "max_frames": max_frames}
    config = config_digest(fingerprint, encoder.cache_params(), extraction)
    directory = cache_dir(task, encoder.info.name, encoder.preset, config)
    suffix = ".json" if encoder.info.modality == "asr" else ".npy"
    sources: list[Source | MediaError] = []
    entries: list[Path] = []
    for item in items:
        try:
            source: Source | MediaError = _source_for(item, encoder.info.modality, asr_store)
            identity = media_identity(source, data_root)
        except MediaError as error:
            source, identity = error, {"missing_media": str(error)}
        sources.append(source)
        entries.append(directory / "items" / entry_name(item.id, identity, suffix))
    header = {"encoder": encoder.info.name, "preset": encoder.preset, "modality": encoder.info.modality,
              "model_id": encoder.info.model_id, "fingerprint": fingerprint, "cache_params": encoder.cache_params(),
              "extraction": extraction, "dim": encoder.output_dim if encoder.info.modality != "asr" else None,
              "weights": getattr(encoder, "weights_source", "unknown"), "random_weights": encoder.is_random}
    return directory, header, sources, entries


def entry_rows(source: Source | MediaError, modality: str, max_frames: int | None) -> int | None:
    """The row count an item's entry must have where the item fixes it: one per face crop kept (None otherwise:
    audio and text encoders decide their own frame rate)."""
    if modality != "image" or isinstance(source, MediaError):
        return None
    crops = _source_length(source, None, max_frames)
    return int(crops) if crops > 0 else None


def bad_entries(encoder: Encoder, sources: Sequence[Source | MediaError], entries: Sequence[Path],
                indices: Sequence[int], max_frames: int | None) -> dict[int, str]:
    """index → what is wrong with its existing entry, for the `indices` whose entry exists but is unsound (see
    `store.entry_problem`; this reads each entry once)."""
    dim = None if encoder.info.modality == "asr" else encoder.output_dim
    found = {}
    for index in indices:
        if entries[index].exists():
            problem = entry_problem(entries[index], dim=dim,
                                    rows=entry_rows(sources[index], encoder.info.modality, max_frames))
            if problem is not None:
                found[index] = problem
    return found


def _batch_bytes(encoder: Encoder, lengths: Sequence[float], batches: Sequence[Sequence[int]]) -> int:
    """Bytes of the largest collated batch a worker sends: uint8 crops, or float32 16 kHz audio padded to the
    batch's longest clip (text is negligible)."""
    if not batches:
        return 0
    modality = encoder.info.modality
    if modality == "image":
        side = int(encoder.cache_params().get("image_size", 224))
        return int(max(sum(lengths[i] for i in batch) for batch in batches)) * side * side * 3
    if modality in ("audio", "asr"):
        return int(max(len(batch) * max(lengths[i] for i in batch) for batch in batches) * 16_000 * 4)
    return 0


SKIP_BAD_HINT = ("pass --skip-bad to skip such items and go on: `extract` records them in its summary, `run` "
                 "also leaves them out of training and validation and predicts them in test with its training-label "
                 "fallback")


def _bad_item(message: str, item: Item, skip_bad: bool) -> str:
    """The message to record for an item that yields no features; MediaError instead without `skip_bad`.

    Nothing is written for such an item either way, so a later extraction tries it again: a rerun without
    `skip_bad` stops on it, and a repaired file is extracted."""
    if not skip_bad:
        raise MediaError(f"{message} (item {item.id!r}; {SKIP_BAD_HINT})")
    return message


def extract_items(encoder: Encoder, request: FeatureRequest, items: Sequence[Item], split: str, *,
                  asr_store: FeatureStore | None = None) -> FeatureStore:
    """Extract whatever `items` (of `split`) still miss with an already built `encoder`, and return their store.

    This is the engine under `ensure_features`; it takes the encoder object so that tests and callers holding one
    (e.g. a fine-tuned encoder) need no registry lookup. `request` names that encoder
    (`FeatureRequest.for_encoder`) and gives the task, data root, cuts and extraction settings; its weights and
    dtype are the encoder's own: the encoder's dtype is used as it is, and its device too except under torchrun,
    where each rank moves it to its own device. Image encoders batch by `images_per_batch` face crops (default
    512) instead of `batch_size` clips (default 8). `asr_store`: the transcripts a text encoder reads for items
    without their own. Under torchrun every rank must call this (it ends with a collective).
    """
    import torch
    from abaw_bench.harness.runtime import distributed
    from torch.utils.data import DataLoader

    _check_answers(request, encoder)
    task, data_root, skip_bad, progress = request.task, request.data_root, request.skip_bad, request.progress
    max_seconds, max_frames = request.max_seconds, request.max_frames
    batch_size = request.batch_size or DEFAULT_BATCH_SIZE
    started, started_wall = time.perf_counter(), time.time()
    dtype = getattr(encoder, "dtype", "fp32")
    context = distributed.setup(getattr(encoder, "device", "cpu"))
    device = str(context.device)
    if getattr(encoder, "device", "cpu") != device:
        encoder.to(device, dtype)
    decode_seconds = _encoder_limit(encoder, max_seconds, "max_seconds")
    decode_frames = _encoder_limit(encoder, max_frames, "max_frames")
    directory, header, sources, entries = _layout(encoder, task, items, data_root, dtype=dtype,
                                                  max_seconds=max_seconds, max_frames=max_frames, asr_store=asr_store)
    if context.is_main and not (directory / "cache.json").is_file():
        write_json(directory / "cache.json", header)

    lengths = [0.0 if isinstance(s, MediaError) else _source_length(s, decode_seconds, decode_frames) for s in sources]
    image = encoder.info.modality == "image"
    plan = {"batch_size": None, "budget": request.images_per_batch or DEFAULT_IMAGES_PER_BATCH} if image else \
        {"batch_size": batch_size, "budget": None}
    batches = plan_batches(lengths, plan["batch_size"], budget=plan["budget"])
    mine = [index for batch in batches[context.rank::context.world_size] for index in batch]
    # Each rank checks (and removes) only its own shard's entries, so no rank deletes one another rank just rebuilt.
    for index, problem in bad_entries(encoder, sources, entries, mine, decode_frames).items():
        print(f"[abaw-bench] extract: {entries[index]}: the cache entry of item {items[index].id!r} is unusable "
              f"({problem}); rebuilding it", file=sys.stderr)
        entries[index].unlink(missing_ok=True)
    sampler = LengthBucketBatchSampler(lengths, plan["batch_size"], budget=plan["budget"], rank=context.rank,
                                       world_size=context.world_size, done=lambda index: entries[index].exists())
    cache_hits = sum(entries[index].exists() for index in mine)
    settings = loader_settings(device, request.num_workers, _batch_bytes(encoder, lengths, sampler.batches),
                               local_world_size=context.local_world_size)
    if settings.note and context.is_main and progress:
        print(f"[abaw-bench] extract: {settings.note}", file=sys.stderr)
    loader = DataLoader(_DecodedItems(sources, encoder, decode_seconds, decode_frames), batch_sampler=sampler,
                        collate_fn=_Collate(encoder), num_workers=settings.num_workers,
                        prefetch_factor=settings.prefetch_factor, pin_memory=settings.pin_memory)
    total = sum(len(batch) for batch in sampler)
    bar = report_progress(total, f"extract {encoder.info.name}/{encoder.preset} {task}/{split}", unit="video",
                          enabled=progress and context.is_main and total > 0)
    extracted = 0
    skipped: dict[str, str] = {}
    batches_in = iter(loader)  # forks the decode workers before the writer thread exists
    with bar, EntryWriter(_write_entry) as writer, torch.no_grad():
        for indices, batch, errors in batches_in:
            for index, message in errors.items():
                skipped[items[index].id] = _bad_item(message, items[index], skip_bad)
            if batch is not None:
                outputs = encoder.forward(batch)
                # A partly cached batch is recomputed whole; only its missing entries are written.
                jobs = []
                for index, output in zip(indices, outputs, strict=True):
                    if entries[index].exists():
                        continue
                    if encoder.info.modality != "asr" and len(output) == 0:  # an empty entry would be rebuilt forever
                        skipped[items[index].id] = _bad_item(f"{sources[index].path}: the encoder gives no feature "
                                                             "rows for it", items[index], skip_bad)
                        continue
                    jobs.append((entries[index], _to_host(output, encoder)))
                writer.submit(jobs, _copies_done(device))
                extracted += len(jobs)
            bar.update(len(indices) + len(errors))
            bar.set_postfix(skipped=len(skipped))

    stats = {"extracted": extracted, "cache_hits": cache_hits, "skipped": skipped, "device": device,
             "seconds": time.perf_counter() - started}
    # Also the barrier after which every rank's entries exist; every rank then builds the same summary and store.
    gathered = distributed.gather_objects(context, stats)
    all_skipped = {item_id: reason for rank_stats in gathered for item_id, reason in rank_stats["skipped"].items()}
    seconds = max(rank_stats["seconds"] for rank_stats in gathered)
    total_extracted = sum(rank_stats["extracted"] for rank_stats in gathered)
    summary = {
        "task": task, "split": split, "encoder": encoder.info.name, "preset": encoder.preset,
        "modality": encoder.info.modality, "fingerprint": header["fingerprint"], "weights": header["weights"],
        "random_weights": header["random_weights"], "dtype": dtype, "device": gathered[0]["device"],
        "world_size": context.world_size,
        "batch_size": batch_size if not image else None, "images_per_batch": plan["budget"],
        "num_workers": settings.num_workers, "data_root": str(data_root), "demo_data": is_demo_root(data_root),
        "cache_dir": str(directory), "items": len(items), "extracted": total_extracted,
        "cache_hits": sum(rank_stats["cache_hits"] for rank_stats in gathered),
        "skipped": len(all_skipped), "skipped_items": all_skipped, "seconds": round(seconds, 3),
        "items_per_second": round(total_extracted / seconds, 3) if seconds > 0 else None,
        "transcripts_from": (f"{asr_store.summary.get('encoder')} [{asr_store.summary.get('preset')}]: "
                             f"{asr_store.summary.get('weights')}") if asr_store is not None else None,
        # Images are stacked, never padded.
        "padded_fraction": round(padded_fraction(lengths, batches), 4) if lengths and not image else 0.0,
    }
    if context.is_main:
        _remove_stale_temporaries(directory / "items", before=started_wall)
        write_json(directory / f"summary-{split}.json", summary)
    return FeatureStore(directory, {item.id: entry for item, entry in zip(items, entries, strict=True)},
                        modality=encoder.info.modality, dim=header["dim"], summary=summary, skipped=all_skipped)


def _check_answers(request: FeatureRequest, encoder: Encoder) -> None:
    """A request handed with a built encoder must name that encoder: the summary and messages use the request's."""
    if (request.encoder, request.preset) != (encoder.info.name, encoder.preset):
        raise ValueError(f"the request asks for {request.encoder} [{request.preset}] features, the encoder given is "
                         f"{encoder.info.name} [{encoder.preset}] (FeatureRequest.for_encoder builds the matching one)")


def load_requested(request: FeatureRequest, device: str, dtype: str) -> Encoder:
    """The request's encoder, loaded with its weights on `device` in `dtype` (both resolved by the caller)."""
    from abaw_bench.harness.encoders import load_encoder

    return load_encoder(request.encoder, request.preset, weights=request.weights, device=device, dtype=dtype,
                        trust_remote_code=request.trust_remote_code, download_root=request.download_root)


def _split_items(task: str, data_root: Path, split: str) -> list[Item]:
    from abaw_bench.harness.tasks import get_task

    return get_task(task).reader(data_root).items(split)


def with_modality_cut(request: FeatureRequest) -> FeatureRequest:
    """The request with the audio cut that applies to its encoder: none for text, whose transcript must cover the
    whole clip (the hallmen2025 text branch) whatever cut the same system's audio branch uses."""
    from abaw_bench.harness.encoders import encoder_info

    return replace(request, max_seconds=None) if encoder_info(request.encoder).modality == "text" else request


def needs_asr(request: FeatureRequest, items: Sequence[Item]) -> bool:
    """Whether the request's encoder reads asr transcripts: a text encoder, and some item has no transcript."""
    from abaw_bench.harness.encoders import encoder_info

    return encoder_info(request.encoder).modality == "text" and any("transcript" not in item.media for item in items)


def ensure_features(request: FeatureRequest, split: str) -> FeatureStore:
    """Extract `split`'s missing features for the request's encoder (a registry name) and return a store over all
    the split's items.

    Text encoders read the dataset's transcripts; items without one use the asr encoder's (`request.asr()`: the
    same preset, weights from `asr_weights`) cached transcript, extracted first if missing. A transcript covers the
    whole clip: `max_seconds` (an audio branch's cut) applies to neither text nor its asr.

    Under torchrun call this on every rank: the rank's device is chosen first (its own GPU, before the encoder is
    built, "auto" dtype resolved for it), each rank extracts its shard, and all ranks return the same store.
    """
    from abaw_bench.harness.runtime import distributed, precision

    device = str(distributed.setup(request.device).device)
    request = with_modality_cut(replace(request, device=device, dtype=precision.resolve_dtype(request.dtype, device)))
    items = _split_items(request.task, request.data_root, split)
    asr_store = ensure_features(request.asr(), split) if needs_asr(request, items) else None
    built = load_requested(request, request.device, request.dtype)
    return extract_items(built, request, items, split, asr_store=asr_store)


def read_summary(directory: Path, split: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The split's last extraction summary in cache folder `directory` and its skipped items (item id → reason),
    each {} when the file is absent or damaged: a damaged summary records no skipped item, so every item then needs
    its cached entry."""
    path = directory / f"summary-{split}.json"
    try:
        summary = read_json(path) if path.is_file() else {}
    except BadJson:
        summary = {}
    if not isinstance(summary, dict):
        return {}, {}
    skipped = summary.get("skipped_items", {})
    return summary, skipped if isinstance(skipped, dict) else {}


def open_items(encoder: Encoder, request: FeatureRequest, items: Sequence[Item], split: str, *,
               asr_store: FeatureStore | None = None) -> FeatureStore:
    """The store of already extracted features for `items`; AbawError naming the first missing item otherwise.
    `request` names `encoder` (as for `extract_items`); its task, data root and cuts locate the entries."""
    _check_answers(request, encoder)
    task, max_frames = request.task, request.max_frames
    dtype = getattr(encoder, "dtype", "fp32")
    directory, header, sources, entries = _layout(encoder, task, items, request.data_root, dtype=dtype,
                                                  max_seconds=request.max_seconds, max_frames=max_frames,
                                                  asr_store=asr_store)
    summary, skipped = read_summary(directory, split)
    missing = [item.id for item, entry in zip(items, entries, strict=True)
               if not entry.exists() and item.id not in skipped]
    if missing:
        raise AbawError(f"{len(missing)} of {len(items)} {task}/{split} items have no cached {encoder.info.name} "
                        f"[{encoder.preset}] features (first: {missing[0]!r}) in {directory}; run `abaw-bench extract "
                        f"--task {task} --encoder {encoder.info.name} --preset {encoder.preset} --split {split}` first")
    bad = bad_entries(encoder, sources, entries, range(len(items)), _encoder_limit(encoder, max_frames, "max_frames"))
    if bad:
        index, problem = next(iter(bad.items()))
        raise AbawError(f"{entries[index]}: the cached features of item {items[index].id!r} are unusable ({problem}; "
                        f"{len(bad)} such entries in all); `abaw-bench extract --task {task} --encoder "
                        f"{encoder.info.name} --preset {encoder.preset} --split {split}` rebuilds them")
    return FeatureStore(directory, {item.id: entry for item, entry in zip(items, entries, strict=True)},
                        modality=encoder.info.modality, dim=header["dim"], summary=summary, skipped=skipped)


def open_store(request: FeatureRequest, split: str) -> FeatureStore:
    """Read-only access to the features `ensure_features` extracted for the same request; never extracts.

    The encoder is built on the CPU (its fingerprint is part of the cache key), in the dtype the request resolves
    to on its device, but runs nothing.
    """
    from abaw_bench.harness.runtime.precision import resolve_dtype

    request = with_modality_cut(replace(request, dtype=resolve_dtype(request.dtype, request.device)))
    items = _split_items(request.task, request.data_root, split)
    asr_store = open_store(request.asr(), split) if needs_asr(request, items) else None
    built = load_requested(request, "cpu", request.dtype)
    return open_items(built, request, items, split, asr_store=asr_store)
