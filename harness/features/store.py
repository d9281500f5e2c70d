"""Read access to cached features: one memory-mapped array per item, so systems never hold a dataset in RAM.

A cache entry is checked, not trusted: a file can be truncated, overwritten or hand-edited after the atomic write
that made it. `entry_problem` says what is wrong with one (not a readable array, another dtype or width, no rows, a
row count other than the item's, non-finite values); extraction and cache lookup use it to name and rebuild bad
entries, and `FeatureStore.get` repeats its header part (free: the header is parsed to map the file anyway).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.jsonio import BadJson, read_json

OPEN_MAPS = 8192  # memory maps a store keeps open (Linux allows 65,530 per process by default)
FINITE_CHECK_ELEMENTS = 1 << 22  # values read at a time by the finiteness check (16 MB of float32)


def _array_problem(array: np.ndarray, dim: int | None, rows: int | None) -> str | None:
    """What the array's header says is wrong with it as an item's [rows, dim] float32 features, or None."""
    if array.dtype != np.float32:
        return f"dtype {array.dtype}, expected float32"
    if array.ndim != 2 or (dim is not None and array.shape[1] != dim):
        return f"shape {list(array.shape)}, expected [rows, {dim if dim is not None else 'D'}]"
    if array.shape[0] == 0:
        return "no rows"
    if rows is not None and array.shape[0] != rows:
        return f"{array.shape[0]} rows, expected {rows} (one per face crop)"
    return None


def _load_mapped(path: Path) -> np.ndarray:
    """The .npy memory-mapped read-only; ValueError or OSError for a file that is not a (complete) plain array.

    numpy's refusal of pickled content advises loading it unsafely; that advice is never passed on."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:
        if "pickle" in str(error):
            raise ValueError("pickled or unrecognised content, never written by the cache") from None
        raise


def entry_problem(path: Path, *, dim: int | None, rows: int | None = None) -> str | None:
    """What is wrong with the cache entry at `path`, or None when it is sound.

    `rows` is the item's known row count (face crops: one row per crop), None when the encoder decides it. The
    finiteness check reads the array in chunks of `FINITE_CHECK_ELEMENTS` values, so memory stays bounded whatever
    the entry's size.
    """
    if path.suffix != ".npy":  # an asr transcript
        try:
            transcript = read_json(path)
        except BadJson as error:
            return f"not a readable transcript JSON ({error.reason})"
        return None if isinstance(transcript, dict) and isinstance(transcript.get("text"), str) else \
            "not a transcript (a JSON object with a string 'text')"
    try:
        array = _load_mapped(path)
    except (OSError, ValueError, EOFError) as error:
        return f"not a readable .npy array ({error})"
    problem = _array_problem(array, dim, rows)
    if problem is not None:
        return problem
    step = max(1, FINITE_CHECK_ELEMENTS // array.shape[1])
    for start in range(0, array.shape[0], step):
        finite = np.isfinite(array[start:start + step]).all(axis=1)
        if not finite.all():
            return f"non-finite values (first in row {start + int(np.flatnonzero(~finite)[0])})"
    return None


class FeatureStore:
    """The cached features of one split for one encoder configuration.

    `ids` lists the items that have features, in split order; items skipped as corrupt (`skipped`, id → reason) are
    not in it and `get` names the reason. `dim` is the feature width (None for an asr store of transcripts).
    """

    def __init__(self, directory: Path, entries: dict[str, Path], *, modality: str, dim: int | None,
                 summary: dict[str, Any], skipped: dict[str, str] | None = None) -> None:
        self.directory = directory
        self.modality = modality
        self.dim = dim
        self.summary = summary
        self.skipped = dict(skipped or {})
        self._entries = {item_id: path for item_id, path in entries.items() if item_id not in self.skipped}
        self.ids = list(self._entries)
        self._mapped: OrderedDict[str, np.ndarray] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        """Pickled for DataLoader workers without the open maps (each process maps what it reads)."""
        return {**self.__dict__, "_mapped": OrderedDict()}

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def path(self, item_id: str) -> Path:
        if item_id in self._entries:
            return self._entries[item_id]
        if item_id in self.skipped:
            raise AbawError(f"item {item_id!r} has no features: it was skipped ({self.skipped[item_id]})")
        raise AbawError(f"item {item_id!r} is not in the feature store {self.directory}")

    def get(self, item_id: str) -> np.ndarray:
        """The item's [T, D] float32 features, memory-mapped read-only (pages load on access).

        For an asr store, use `transcript` instead.
        """
        mapped = self._mapped.get(item_id)
        if mapped is not None:
            self._mapped.move_to_end(item_id)
            return mapped
        path = self.path(item_id)
        if path.suffix != ".npy":
            raise AbawError(f"{path}: holds a transcript, not an array; use FeatureStore.transcript")
        try:
            mapped = _load_mapped(path)
            problem = _array_problem(mapped, self.dim, None)
        except (OSError, ValueError, EOFError) as error:
            problem = f"not a readable .npy array ({error})"
        if problem is not None:
            raise AbawError(f"{path}: the cached features of item {item_id!r} are unusable ({problem}); `abaw-bench "
                            "extract` or `run` checks the cache and rebuilds such entries")
        # Opening a map costs ~0.1-0.2 ms, more than reading a small item: keep the most recent maps open, so that
        # every epoch after the first reads straight from them (bounded: a map holds no memory beyond touched pages,
        # but each is one entry in the process's map table).
        self._mapped[item_id] = mapped
        if len(self._mapped) > OPEN_MAPS:
            self._mapped.popitem(last=False)
        return mapped

    def transcript(self, item_id: str) -> dict[str, Any]:
        """The asr encoder's cached {"text", "words"} for the item."""
        path = self.path(item_id)
        return read_json(path)
