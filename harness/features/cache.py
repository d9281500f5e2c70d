"""Feature-cache layout and keys: where an item's features live and when they are still valid.

    cache_home()/features/<task>/<encoder>-<preset>-<config[:12]>/
        cache.json                 what produced this folder (encoder, preset, fingerprint, parameters)
        items/<id>-<media[:16]>.npy   one float32 [T, D] array per item (asr: .json transcripts)
        summary-<split>.json       the last run's summary for a split

`config` hashes the encoder's `fingerprint()` (weights + preprocessing), its `cache_params()` and the extraction's own
parameters that change outputs (dtype, max_seconds, max_frames); different weights or settings get a new folder and
never overwrite each other. `media` hashes the item id and the identity of the media file the features come from:
its path relative to the data root, size and mtime_ns (for a face-crop folder, those of every frame in it). That is a
stat, not a read: hashing 15 h of video on every run would cost minutes, while any re-encode, copy without `-p` or
edit changes size or mtime and so invalidates the entry. An entry is written complete or not at all (atomic rename),
and there is no index that could disagree with the files; since a file can still be damaged later, each entry is
checked when a run reads the cache (`store.entry_problem`) and a bad one is named and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abaw_bench.harness.media import IMAGE_SUFFIXES
from abaw_bench.harness.paths import cache_home

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def config_digest(fingerprint: str, cache_params: dict[str, Any], extraction_params: dict[str, Any]) -> str:
    return _digest({"fingerprint": fingerprint, "cache_params": cache_params, "extraction": extraction_params})


def cache_dir(task: str, encoder: str, preset: str, config: str) -> Path:
    return cache_home() / "features" / task / f"{encoder}-{preset}-{config[:12]}"


@dataclass(frozen=True)
class Source:
    """The one input an encoder reads for an item: kind is "audio", "faces", "transcript" or "asr" (a cached
    transcript of the asr encoder, for text encoders on datasets without transcripts)."""

    kind: str
    path: Path


def media_identity(source: Source, data_root: Path) -> dict[str, Any]:
    """Path (relative to the data root when inside it), size and mtime_ns of the source; per frame for folders."""
    path = source.path
    try:
        shown = str(path.resolve().relative_to(data_root.resolve()))
    except ValueError:
        shown = str(path.resolve())
    try:
        if path.is_dir():
            frames = sorted((entry.name, entry.stat().st_size, entry.stat().st_mtime_ns) for entry in os.scandir(path)
                            if entry.name.lower().endswith(IMAGE_SUFFIXES))
            return {"kind": source.kind, "path": shown, "frames": _digest(frames), "count": len(frames)}
        stat = path.stat()
    except OSError:  # a missing file still needs a key; decoding it will raise the MediaError that names it
        return {"kind": source.kind, "path": shown, "missing": True}
    return {"kind": source.kind, "path": shown, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def entry_name(item_id: str, identity: dict[str, Any], suffix: str) -> str:
    """A file name that is readable (the id, made path-safe) and unique (a hash of the id and media identity)."""
    readable = _UNSAFE.sub("_", item_id).strip("._")[:80] or "item"
    return f"{readable}-{_digest({'id': item_id, 'media': identity})[:16]}{suffix}"
