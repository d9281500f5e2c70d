"""Decoded audio tracks cached as raw samples: what an audio encoder fine-tuned under centred sampling (hallmen2025
BAH) reads, since it runs inside the training step on each sample's waveform window instead of reading cached
features (the windows are cut by `harness.train.windows.WaveformWindows`).

    cache_home()/waveforms/<task>/sr16000-v1/<id>-<media[:16]>.npy   one float32 [N] array per item

Each item's audio (its "audio" media, else its video's audio track) is decoded once (`harness.media.load_audio`:
mono, 16 kHz), written atomically, and memory-mapped from then on, so a sample reads only its window's pages and no
split is ever held in RAM; the file name hashes the item id and the media file's identity (`features.cache`), so a
re-encoded file is decoded again. Under torchrun the ranks decode disjoint shares and read each other's files.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from abaw_bench.harness.atomic import atomic_path
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.features.cache import Source, entry_name, media_identity
from abaw_bench.harness.media import SAMPLE_RATE, MediaError, load_audio
from abaw_bench.harness.paths import cache_home
from abaw_bench.harness.tasks.base import Item

WAVEFORM_VERSION = 1
OPEN_MAPS = 4096  # memory maps a store keeps open per process (each one entry in the process's map table)


def waveform_dir(task: str) -> Path:
    return cache_home() / "waveforms" / task / f"sr{SAMPLE_RATE}-v{WAVEFORM_VERSION}"


def _audio_path(item: Item) -> Path:
    path = item.media.get("audio") or item.media.get("video")
    if path is None:
        raise MediaError(f"item {item.id!r} has no 'audio' or 'video' media to decode for a fine-tuned audio encoder "
                         f"(it has: {', '.join(item.media) or 'none'})")
    return Path(path)


def _entry_problem(path: Path) -> str | None:
    """What is wrong with a cached waveform (None when it is a non-empty 1-D float32 array); header only."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        return f"not a readable .npy array ({error})"
    if array.dtype != np.float32 or array.ndim != 1 or array.size == 0:
        return f"dtype {array.dtype}, shape {list(array.shape)}: expected a non-empty 1-D float32 array"
    return None


@dataclass
class WaveformStore:
    """item id → its decoded track, memory-mapped read-only; picklable for DataLoader workers (each process maps
    what it reads)."""

    paths: dict[str, Path]
    _mapped: OrderedDict[str, np.ndarray] = field(default_factory=OrderedDict, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        return {"paths": self.paths, "_mapped": OrderedDict()}

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.paths

    def get(self, item_id: str) -> np.ndarray:
        mapped = self._mapped.get(item_id)
        if mapped is None:
            if item_id not in self.paths:
                raise AbawError(f"item {item_id[:120]!r} has no decoded waveform")
            mapped = np.load(self.paths[item_id], mmap_mode="r", allow_pickle=False)
            self._mapped[item_id] = mapped
            if len(self._mapped) > OPEN_MAPS:
                self._mapped.popitem(last=False)
        else:
            self._mapped.move_to_end(item_id)
        return mapped


def ensure_waveforms(task: str, items: Sequence[Item], data_root: Path, *, device: str = "cpu",
                     progress: bool = True, directory: Path | None = None) -> WaveformStore:
    """Every item's track decoded into the cache (the ones missing or damaged now, each rank its share), then the
    store over them. Call it on every rank under torchrun."""
    from abaw_bench.harness.progress import progress as reporter
    from abaw_bench.harness.runtime import distributed

    context = distributed.setup(device)
    folder = directory or waveform_dir(task)
    paths: dict[str, Path] = {}
    sources: dict[str, Path] = {}
    for item in items:
        source = _audio_path(item)
        sources[item.id] = source
        paths[item.id] = folder / entry_name(item.id, media_identity(Source("audio", source), data_root), ".npy")
    missing = [item_id for item_id, path in paths.items() if not path.is_file() or _entry_problem(path)]
    distributed.barrier(context)  # every rank has looked before any rank writes: the same `missing` on all
    mine = missing[context.rank::context.world_size]
    with reporter(len(mine), f"decoding audio for fine-tuning ({task})", unit="track",
                  enabled=progress and context.is_main and bool(mine)) as bar:
        for item_id in mine:
            wave = load_audio(sources[item_id])
            with atomic_path(paths[item_id]) as tmp, open(tmp, "wb") as handle:
                np.save(handle, np.ascontiguousarray(wave, dtype=np.float32), allow_pickle=False)
            bar.update(1)
    distributed.barrier(context)
    for item_id in missing:
        problem = _entry_problem(paths[item_id])
        if problem is not None:
            raise AbawError(f"{paths[item_id]}: the decoded waveform of item {item_id[:120]!r} is unusable "
                            f"({problem}); is the cache directory shared by every rank?")
    if missing and context.is_main and progress:
        print(f"[abaw-bench] {task}: decoded {len(missing)} audio track(s) into {folder}", file=sys.stderr)
    return WaveformStore(paths)
