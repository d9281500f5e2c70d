"""The organisers' feature pickles ("provided:vit", "provided:wav2vec2"), converted once into the feature cache.

The pickles are untrusted and go through the restricted unpickler (`harness.safepickle`). Doing that at every access
would unpickle every item again in every epoch; instead each pickle is converted once, and epochs then read
memory-mapped arrays like any other cached feature (`FeatureStore`):

    cache_home()/features/provided/<kind>/
        cache.json                what this folder holds
        items/<id>-<h[:16]>.npy   float32 [T, D]; h hashes the item id and the pickle's sha256 (its content)
        sha256/<s[:32]>.<sha256>  an empty file: the pickle whose resolved path, size and mtime_ns hash to s
                                  has that sha256

Entries are keyed by content, so a changed pickle gets a new entry and a copied dataset is hashed again but not
converted again. The sha256 of an unchanged pickle (same path, size and mtime_ns: the identity the feature cache
trusts, see `harness.features.cache`) is remembered in a file name, so that later runs neither read nor hash any
pickle, and one directory listing recalls them all. Entries are written atomically and the name files are empty (they
exist or not, nothing in between): a killed conversion leaves complete entries or none, and concurrent runs (torchrun
ranks) that convert the same pickle write identical bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from abaw_bench.harness.atomic import atomic_path, write_json
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.features.cache import entry_name
from abaw_bench.harness.features.store import FeatureStore
from abaw_bench.harness.paths import cache_home, file_sha256
from abaw_bench.harness.progress import progress as report_progress
from abaw_bench.harness.safepickle import load_features
from abaw_bench.harness.tasks.base import Item

CONVERSION = "float32-rows-v1"  # safepickle.load_features: float32, C order, a 1-D array becomes one row
SOURCE = "the organisers' feature pickles"


class ProvidedStore(FeatureStore):
    """A FeatureStore over converted pickles; `pickles` (item id → original pickle) names the file in errors."""

    def __init__(self, directory: Path, entries: dict[str, Path], pickles: dict[str, Path], *, dim: int | None,
                 summary: dict[str, object]) -> None:
        super().__init__(directory, entries, modality="provided", dim=dim, summary=summary)
        self.pickles = pickles

    def get(self, item_id: str) -> np.ndarray:
        rows = super().get(item_id)
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            raise AbawError(f"{self.pickles[item_id]}: {rows.shape[-1]} feature columns, expected {self.dim} "
                            "like the other pickles")
        return rows


def provided_dir(kind: str) -> Path:
    return cache_home() / "features" / "provided" / kind


def provided_store(items: Sequence[Item], kind: str, *, progress: bool = True) -> ProvidedStore:
    """Convert whatever `items`' `kind` pickles (item.media[kind]) still miss in the cache; a store over all of them.

    An item without that pickle, an unreadable or unsafe pickle, or one whose width differs from the others is an
    AbawError naming the file. Progress is shown only while something is hashed or converted.
    """
    pickles: dict[str, Path] = {}
    for item in items:
        if kind not in item.media:
            raise AbawError(f"item {item.id!r} ({item.split}) has no {kind!r} feature pickle "
                            f"(expected {kind}/{item.id}.pkl under the data root)")
        pickles[item.id] = Path(item.media[kind])
    directory = provided_dir(kind)
    if not (directory / "cache.json").is_file():
        write_json(directory / "cache.json", {"source": SOURCE, "kind": kind, "conversion": CONVERSION,
                                              "read_with": "abaw_bench.harness.safepickle.load_features"})
    known = _remembered_sha256(directory)
    entries: dict[str, Path] = {}
    pending: list[str] = []
    for item_id, pickle_path in pickles.items():
        sha256 = known.get(_identity(pickle_path))
        if sha256 is not None and _entry(directory, item_id, sha256).exists():
            entries[item_id] = _entry(directory, item_id, sha256)
        else:
            pending.append(item_id)
    dim = _width(next(iter(entries.values()))) if entries else None
    converted = 0
    with report_progress(len(pending), f"convert provided:{kind} pickles", unit="video",
                         enabled=progress and bool(pending)) as bar:
        for item_id in pending:
            entries[item_id], width, unpickled = _convert(directory, item_id, pickles[item_id], dim)
            dim = width if dim is None else dim
            converted += unpickled
            bar.update()
    summary = {"source": SOURCE, "kind": kind, "cache_dir": str(directory), "items": len(pickles),
               "hashed": len(pending), "converted": converted, "weights": SOURCE}
    return ProvidedStore(directory, {item_id: entries[item_id] for item_id in pickles}, pickles, dim=dim,
                         summary=summary)


def _identity(pickle_path: Path) -> str:
    """A digest of the pickle as it is now: resolved path, size and mtime_ns."""
    try:
        stat = pickle_path.stat()
    except OSError as error:
        raise AbawError(f"{pickle_path}: cannot read feature pickle: {error.strerror or error}") from None
    identity = json.dumps({"path": str(pickle_path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns},
                          sort_keys=True)
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def _remembered_sha256(directory: Path) -> dict[str, str]:
    """identity → sha256, from the names in sha256/ (one listing instead of one file read per pickle)."""
    try:
        names = os.listdir(directory / "sha256")
    except FileNotFoundError:
        return {}
    return dict(name.split(".", 1) for name in names if not name.startswith(".") and "." in name)


def _entry(directory: Path, item_id: str, sha256: str) -> Path:
    return directory / "items" / entry_name(item_id, {"pickle_sha256": sha256, "conversion": CONVERSION}, ".npy")


def _convert(directory: Path, item_id: str, pickle_path: Path, dim: int | None) -> tuple[Path, int, bool]:
    """Hash the pickle, and unpickle + write its entry unless an entry of that content exists.

    Returns (entry, its width, whether the pickle was unpickled).
    """
    identity = _identity(pickle_path)
    try:
        sha256 = file_sha256(pickle_path)
    except OSError as error:
        raise AbawError(f"{pickle_path}: cannot read feature pickle: {error.strerror or error}") from None
    entry = _entry(directory, item_id, sha256)
    unpickle = not entry.exists()
    if unpickle:
        rows = load_features(pickle_path)
        finite = np.isfinite(rows).all(axis=1)
        if not finite.all():  # trained on, NaN features read as a divergence ("try a lower --lr")
            raise AbawError(f"{pickle_path}: the features of item {item_id!r} hold NaN or inf (first in row "
                            f"{int(np.flatnonzero(~finite)[0])} of {len(rows)}); the organisers' features are finite: "
                            "replace the file with the release's copy")
        width = int(rows.shape[1])
        if dim is not None and width != dim:
            raise AbawError(f"{pickle_path}: {width} feature columns, expected {dim} like the other pickles")
        with atomic_path(entry) as tmp, open(tmp, "wb") as handle:
            np.save(handle, rows, allow_pickle=False)
    else:
        width = _width(entry)
    marker = directory / "sha256" / f"{identity}.{sha256}"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    return entry, width, unpickle


def _width(entry: Path) -> int:
    """D of a cached [T, D] entry, from its header (memory-mapped: no data is read)."""
    return int(np.load(entry, mmap_mode="r").shape[1])
