"""Read access to cached features: one memory-mapped array per item, so systems never hold a dataset in RAM."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from abaw_bench.harness.errors import AbawError

OPEN_MAPS = 8192  # memory maps a store keeps open (Linux allows 65,530 per process by default)


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
        mapped = np.load(path, mmap_mode="r")
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
        return json.loads(path.read_text(encoding="utf-8"))
