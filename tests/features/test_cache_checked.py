"""The feature cache is checked, not trusted: each kind of damaged entry is named and rebuilt by extraction, passed
over by the cache lookup, and refused by name by the read-only store."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.features import FeatureRequest, FeatureStore, extract_items, open_items
from abaw_bench.harness.tasks.base import Item

sys.path.insert(0, str(Path(__file__).parent))
from _wav import write_wav


def _save(path: Path, array: np.ndarray) -> None:
    np.save(path, array, allow_pickle=False)


CORRUPTIONS: dict[str, tuple[Callable[[Path, np.ndarray], None], str]] = {
    "truncated": (lambda p, a: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "not a readable .npy array"),
    "garbage": (lambda p, a: p.write_bytes(b"\x00garbage" * 50), "not a readable .npy array"),
    "wrong width": (lambda p, a: _save(p, a[:, :-1]), "expected [rows, 35]"),
    "wrong dtype": (lambda p, a: _save(p, a.astype(np.float64)), "dtype float64, expected float32"),
    "zero rows": (lambda p, a: _save(p, a[:0]), "no rows"),
    "non-finite": (lambda p, a: _save(p, np.where(np.arange(len(a))[:, None] == 2, np.nan, a).astype(np.float32)),
                   "non-finite values (first in row 2)"),
}


@pytest.fixture(scope="module")
def encoder():
    from abaw_bench.harness.encoders import load_encoder

    return load_encoder("wav2vec2-vad", "tiny")


def test_each_damaged_entry_is_named_refused_and_rebuilt(encoder, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ABAW_BENCH_CACHE", str(tmp_path / "cache"))
    items = []
    for index in range(len(CORRUPTIONS)):
        write_wav(tmp_path / f"clip{index}.wav", 0.4 + 0.1 * index, seed=index)
        items.append(Item(f"clip{index}", "train", {"audio": tmp_path / f"clip{index}.wav"}))
    request = FeatureRequest.for_encoder(encoder, "synthetic", tmp_path, num_workers=0, progress=False)
    store = extract_items(encoder, request, items, "train")
    pristine = {item.id: np.array(store.get(item.id)) for item in items}
    for item, (damage, _) in zip(items, CORRUPTIONS.values(), strict=True):
        damage(store.path(item.id), pristine[item.id])

    with pytest.raises(AbawError, match=r"are unusable \(.*; 6 such entries in all\)"):
        open_items(encoder, request, items, "train")
    fresh = FeatureStore(store.directory, {i.id: store.path(i.id) for i in items}, modality="audio", dim=35,
                         summary={})
    with pytest.raises(AbawError, match=rf"^{store.path('clip1')}: the cached features of item 'clip1' are unusable"):
        fresh.get("clip1")  # garbage: refused by name even by a store that skipped the checks

    capsys.readouterr()
    rebuilt = extract_items(encoder, request, items, "train")
    warned = capsys.readouterr().err.splitlines()
    for item, (_, problem) in zip(items, CORRUPTIONS.values(), strict=True):
        named = f"[abaw-bench] extract: {store.path(item.id)}: the cache entry of item {item.id!r} is unusable ("
        assert any(line.startswith(named) and problem in line and line.endswith("; rebuilding it") for line in warned)
        assert not any("unsafely" in line for line in warned)
        np.testing.assert_array_equal(rebuilt.get(item.id), pristine[item.id])
    assert rebuilt.summary["extracted"] == len(items)


def test_a_face_entry_needs_one_row_per_crop_kept(tmp_path: Path) -> None:
    from abaw_bench.harness.features.cache import Source
    from abaw_bench.harness.features.pipeline import entry_rows
    from abaw_bench.harness.features.store import entry_problem
    from PIL import Image

    faces = tmp_path / "faces"
    faces.mkdir()
    for index in range(3):
        Image.new("RGB", (8, 8)).save(faces / f"frame-{index}.jpg")
    rows = entry_rows(Source("faces", faces), "image", None)
    entry = tmp_path / "entry.npy"
    _save(entry, np.zeros((2, 4), np.float32))
    assert rows == 3 and entry_problem(entry, dim=4, rows=rows) == "2 rows, expected 3 (one per face crop)"
    assert entry_rows(Source("faces", faces), "image", 2) == 2 and entry_problem(entry, dim=4, rows=2) is None
