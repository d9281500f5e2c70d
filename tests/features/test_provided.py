"""The organisers' feature pickles are converted once into the feature cache and then read memory-mapped."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.features import provided
from abaw_bench.harness.features.provided import provided_store
from abaw_bench.harness.tasks.base import Item

WIDTH = 6


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "cache"
    monkeypatch.setenv("ABAW_BENCH_CACHE", str(home))
    return home


def _write(path: Path, array: np.ndarray, protocol: int = 4) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(array, protocol=protocol))


@pytest.fixture
def arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {f"{index:05d}": rng.standard_normal((int(rng.integers(1, 9)), WIDTH)) for index in range(5)}


@pytest.fixture
def root(tmp_path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """vit/<id>.pkl as the organisers ship them: float64 and float32, protocol 2 and 4, one 1-D array (one frame)."""
    data = tmp_path / "data"
    for index, (item_id, array) in enumerate(arrays.items()):
        stored = array[0] if item_id == "00004" else array.astype(np.float32 if index % 2 else np.float64)
        _write(data / "vit" / f"{item_id}.pkl", stored, protocol=2 if index < 2 else 4)
    return data


def _items(root: Path) -> list[Item]:
    return [Item(path.stem, "train", {"vit": path}) for path in sorted((root / "vit").glob("*.pkl"))]


def _expected(arrays: dict[str, np.ndarray], item_id: str) -> np.ndarray:
    return (arrays[item_id][:1] if item_id == "00004" else arrays[item_id]).astype(np.float32)


def test_converted_once_then_read_memory_mapped_without_touching_the_pickles(
        root: Path, cache: Path, arrays: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch) -> None:
    items = _items(root)
    store = provided_store(items, "vit", progress=False)
    assert store.ids == list(arrays) and store.dim == WIDTH
    assert store.summary["converted"] == len(items) and all(item.id in store for item in items)
    for item_id in arrays:
        rows = store.get(item_id)
        assert isinstance(rows, np.memmap) and rows.dtype == np.float32
        np.testing.assert_array_equal(rows, _expected(arrays, item_id))
    assert store.directory == cache / "features" / "provided" / "vit"
    assert not list(cache.rglob("*.tmp"))

    def refuse(path: object) -> None:
        raise AssertionError(f"{path} was read again")

    monkeypatch.setattr(provided, "load_features", refuse)
    monkeypatch.setattr(provided, "file_sha256", refuse)
    again = provided_store(items, "vit", progress=False)
    assert again.summary["hashed"] == 0 and again.summary["converted"] == 0
    for item_id in arrays:
        assert again.path(item_id) == store.path(item_id)
        np.testing.assert_array_equal(again.get(item_id), _expected(arrays, item_id))


def test_changed_pickle_gets_a_new_entry_copied_dataset_is_hashed_not_converted(
        root: Path, cache: Path, arrays: dict[str, np.ndarray], tmp_path: Path) -> None:
    first = provided_store(_items(root), "vit", progress=False)
    replacement = np.full((3, WIDTH), 7.0, dtype=np.float32)
    _write(root / "vit" / "00002.pkl", replacement)
    changed = provided_store(_items(root), "vit", progress=False)
    assert changed.summary["converted"] == 1
    assert changed.path("00002") != first.path("00002")
    np.testing.assert_array_equal(changed.get("00002"), replacement)

    copy = tmp_path / "copy"
    shutil.copytree(root, copy)  # new paths and mtimes, same contents
    copied = provided_store(_items(copy), "vit", progress=False)
    assert copied.summary["hashed"] == len(arrays) and copied.summary["converted"] == 0
    assert [copied.path(item_id) for item_id in arrays] == [changed.path(item_id) for item_id in arrays]


def test_bad_pickles_are_errors_naming_the_file_and_convert_nothing_wrong(root: Path, cache: Path,
                                                                        tmp_path: Path) -> None:
    with pytest.raises(AbawError, match="has no 'vit' feature pickle"):
        provided_store([Item("00009", "train", {"audio": tmp_path / "a.mp3"})], "vit", progress=False)

    marker = tmp_path / "pwned"
    unsafe = root / "vit" / "00003.pkl"

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[object, ...]]:
            return os.system, (f"touch {marker}",)

    original = unsafe.read_bytes()
    unsafe.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(AbawError, match=f"{unsafe}.*refused to unpickle"):
        provided_store(_items(root), "vit", progress=False)
    assert not marker.exists()
    assert len(list(cache.rglob("items/*.npy"))) == 3  # the items before it, each complete; nothing for it

    _write(unsafe, np.zeros((2, WIDTH + 1)))
    with pytest.raises(AbawError, match=f"{unsafe}: {WIDTH + 1} feature columns, expected {WIDTH}"):
        provided_store(_items(root), "vit", progress=False)

    unsafe.write_bytes(original)
    resumed = provided_store(_items(root), "vit", progress=False)
    assert resumed.summary["converted"] == 2 and len(resumed) == 5  # only what the failed runs left undone


def test_provided_source_delegates_to_the_store(root: Path, cache: Path, arrays: dict[str, np.ndarray]) -> None:
    from abaw_bench.harness.train.data import ItemDataset
    from abaw_bench.harness.train.inputs import ProvidedSource

    source = ProvidedSource(_items(root), "vit", progress=False)
    assert source.dim == WIDTH and "00001" in source and "99999" not in source
    dataset = ItemDataset(list(arrays), {"provided:vit": source})
    np.testing.assert_array_equal(dataset[1]["features"]["provided:vit"], _expected(arrays, "00001"))
    assert ProvidedSource([], "wav2vec2", progress=False).dim == 768  # no items: the release's known width


def test_a_pickle_holding_nan_is_named_with_its_item_and_row(cache: Path, root: Path) -> None:
    bad = np.ones((4, WIDTH), dtype=np.float32)
    bad[2, 1] = np.nan
    _write(root / "vit" / "00002.pkl", bad)
    with pytest.raises(AbawError, match=r"vit/00002\.pkl: the features of item '00002' hold NaN or inf \(first in "
                                        r"row 2 of 4\)"):
        provided_store(_items(root), "vit", progress=False)
