"""Finding features `extract` already cached, so that `run` uses them instead of extracting again.

The cache key holds the compute dtype and the requested cuts (`harness.features.cache`), and `run` asks for its own:
a `run` after `extract --dtype bf16` (or with the audio cut spelled differently) would not find the folder it wants
and extract everything again. `find_cached_store` looks at every folder cached for the encoder and preset instead,
and takes a complete one whose features are what the run needs:

- same encoder fingerprint (weights and preprocessing) and the same cache parameters;
- any dtype, the requested one first, then fp32, bf16, fp16 (the summary records which was used);
- audio (and asr) cut: the same *effective* cut, i.e. the smaller of the requested one and the encoder's own limit
  (`extract` without --max-seconds and `run` with the system's 12 s give the same wav2vec2-vad features);
- face crops: a cache holding at least the first `max_frames` crops of each clip, as one row per crop; the caller
  keeps the first `max_frames` rows (images are encoded independently, so those rows are exactly what a cut cache
  holds);
- complete for the split: every item has an entry or was recorded as skipped — the latter only when the caller
  skips such items too (the request's `skip_bad`, a run's --skip-bad); otherwise the folder is passed over, so that the
  extraction that follows tries the item again and stops on it if it is still unreadable;
- sound: every entry reads as the item's features (`store.entry_problem`: dtype, width, row count, finite values).
  A folder with a bad entry is passed over with the entry named, and the extraction that follows rebuilds it.

It never extracts and never writes. It returns the store, or None with the reason each folder was passed over.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abaw_bench.harness.encoders.base import Encoder
from abaw_bench.harness.features.request import ASR_ENCODER, FeatureRequest
from abaw_bench.harness.features.store import FeatureStore
from abaw_bench.harness.jsonio import BadJson, read_json
from abaw_bench.harness.paths import cache_home

DTYPE_ORDER = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class _Candidate:
    directory: Path
    header: dict[str, Any]


def _candidates(task: str, encoder: str, preset: str) -> list[_Candidate]:
    """Folders holding a readable cache.json for `encoder`/`preset` (folder name: <encoder>-<preset>-<digest>)."""
    root = cache_home() / "features" / task
    folder = re.compile(rf"{re.escape(encoder)}-{re.escape(preset)}-[0-9a-f]{{12}}")
    found = []
    for header_path in sorted(root.glob(f"{encoder}-{preset}-*/cache.json")):
        if not folder.fullmatch(header_path.parent.name):
            continue
        try:
            header = read_json(header_path)
        except BadJson:
            continue
        if isinstance(header, dict) and isinstance(header.get("extraction"), dict):
            found.append(_Candidate(header_path.parent, header))
    return found


def _frames_cover(cached: int | None, wanted: int | None) -> bool:
    return cached is None or (wanted is not None and cached >= wanted)


def _mismatch(candidate: _Candidate, encoder: Encoder, max_seconds: float | None,
              max_frames: int | None) -> str | None:
    """Why the candidate's features are not the ones wanted; None when they are."""
    from abaw_bench.harness.features.pipeline import _encoder_limit

    header, extraction = candidate.header, candidate.header["extraction"]
    if header.get("fingerprint") != encoder.fingerprint():
        return "made with other weights or preprocessing"
    if json.loads(json.dumps(header.get("cache_params"), default=str)) != \
            json.loads(json.dumps(encoder.cache_params(), default=str)):
        return "made with other encoder parameters"
    if encoder.info.modality == "image":
        if not _frames_cover(extraction.get("max_frames"), max_frames):
            return (f"holds only the first {extraction.get('max_frames')} face crops per clip, "
                    f"{max_frames or 'all'} wanted")
    else:
        cached_cut = _encoder_limit(encoder, extraction.get("max_seconds"), "max_seconds")
        wanted_cut = _encoder_limit(encoder, max_seconds, "max_seconds")
        if cached_cut != wanted_cut:
            return f"audio cut at {cached_cut or 'no limit'} s, {wanted_cut or 'no limit'} s wanted"
    return None


def _preference(candidate: _Candidate, dtype: str, max_frames: int | None) -> tuple[int, int, str]:
    extraction = candidate.header["extraction"]
    cached_dtype = extraction.get("dtype")
    order = [dtype, *(d for d in DTYPE_ORDER if d != dtype)]
    dtype_rank = order.index(cached_dtype) if cached_dtype in order else len(order)
    exact_frames = 0 if extraction.get("max_frames") == max_frames else 1
    return dtype_rank, exact_frames, candidate.directory.name


def _open(candidate: _Candidate, encoder: Encoder, task: str, items: list, data_root: Path, split: str,
          asr_store: FeatureStore | None, allow_skipped: bool) -> tuple[FeatureStore | None, str]:
    from abaw_bench.harness.features.pipeline import _encoder_limit, _layout, bad_entries, read_summary

    extraction = candidate.header["extraction"]
    directory, header, sources, entries = _layout(encoder, task, items, data_root, dtype=extraction.get("dtype"),
                                            max_seconds=extraction.get("max_seconds"),
                                            max_frames=extraction.get("max_frames"), asr_store=asr_store)
    if directory != candidate.directory:
        return None, "its cache.json does not match its folder's key"
    summary, recorded = read_summary(directory, split)
    skipped = {item.id: recorded[item.id] for item in items if item.id in recorded}
    if skipped and not allow_skipped:
        item_id, reason = next(iter(skipped.items()))
        return None, (f"{len(skipped)} {split} item(s) were skipped as unreadable by an extraction with --skip-bad "
                      f"(first: {item_id[:60]!r}: {str(reason)[:200]}); without --skip-bad they are tried again")
    missing = [item.id for item, entry in zip(items, entries, strict=True)
               if item.id not in skipped and not entry.exists()]
    if missing:
        return None, f"{len(missing)} of {len(items)} {split} items missing (first: {missing[0][:60]!r})"
    bad = bad_entries(encoder, sources, entries, range(len(items)),
                      _encoder_limit(encoder, extraction.get("max_frames"), "max_frames"))
    if bad:
        index, problem = next(iter(bad.items()))
        return None, (f"{len(bad)} unusable entr{'y' if len(bad) == 1 else 'ies'}, rebuilt by extraction (first: "
                      f"{entries[index]}, item {items[index].id[:60]!r}: {problem})")
    store = FeatureStore(directory, {item.id: entry for item, entry in zip(items, entries, strict=True)},
                         modality=encoder.info.modality, dim=header["dim"], summary=summary, skipped=skipped)
    return store, ""


def find_cached_store(request: FeatureRequest, split: str) -> tuple[FeatureStore | None, str]:
    """(store, explanation): a complete cache of the request's features for `split` that the run can use, or None.

    With `request.skip_bad` a cache whose extraction skipped unreadable items (`extract --skip-bad`) counts as
    complete, the store listing them in `skipped`; without it such a cache is passed over (module docstring).

    `request.dtype` ("auto" resolves for `request.device`, as extraction does) is only a preference. The explanation
    says which cache was taken, or why none was, for the run's log. The encoder is built on the CPU only when some
    folder for it exists (its fingerprint decides); nothing runs on a device.
    """
    from abaw_bench.harness.features.pipeline import _split_items, load_requested, needs_asr, with_modality_cut
    from abaw_bench.harness.runtime.precision import resolve_dtype

    task = request.task
    wanted = f"{request.encoder} [{request.preset}] features for {task}/{split}"
    candidates = _candidates(task, request.encoder, request.preset)
    if not candidates:
        return None, f"no cached {wanted}"
    request = with_modality_cut(request)
    items = _split_items(task, request.data_root, split)
    asr_store = None
    if needs_asr(request, items):
        asr_store, why = find_cached_store(request.asr(), split)
        if asr_store is None:
            return None, f"no usable cached {wanted}: they need {ASR_ENCODER} transcripts ({why})"
    built = load_requested(request, "cpu", "fp32")
    preferred = resolve_dtype(request.dtype, request.device)
    reasons = []
    for candidate in sorted(candidates, key=lambda c: _preference(c, preferred, request.max_frames)):
        label = f"{candidate.header['extraction'].get('dtype')} cache {candidate.directory}"
        problem = _mismatch(candidate, built, request.max_seconds, request.max_frames)
        if problem is None:
            store, problem = _open(candidate, built, task, items, request.data_root, split, asr_store,
                                   request.skip_bad)
            if store is not None:
                return store, f"using the cached {wanted}: {label}"
        reasons.append(f"{label}: {problem}")
    return None, f"no usable cached {wanted} ({'; '.join(reasons)})"
