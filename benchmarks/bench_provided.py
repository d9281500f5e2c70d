"""The organisers' feature pickles: epochs on the converted cache vs the restricted unpickler at every access.

Run: pytest benchmarks/bench_provided.py --benchmark-only -s

(a) The `baseline` system's `multimodal` variant (provided ViT + wav2vec2 pickles, mean-pooled → MLP) trained on the
    demo EMI data by `harness.train.pipeline.run`, once reading every item through the restricted unpickler at every
    access (the source before the conversion, kept here as `PickleEveryAccess`) and once from the converted cache.
    Figure: the median epoch (training + validation) after the first, old / new. The issue's target: >= 3x.
(b) Reading alone, on release-sized pickles (wav2vec2 350 x 768 = 7 s at 50 rows/s; ViT 42 x 384 = 7 s at 6 fps),
    written with pickle protocol 2 and 4: one pass over the items, old `load_features` vs converted `get` + the copy
    the dataset makes.
Rounds alternate old and new so that a busy machine slows both alike; each side's best round counts.
"""

from __future__ import annotations

import json
import pickle
import statistics
import time
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.features.provided import provided_store
from abaw_bench.harness.safepickle import load_features
from abaw_bench.harness.tasks.base import Item

EPOCHS, ROUNDS = 6, 2
RELEASE_SHAPES = {"wav2vec2": (350, 768), "vit": (42, 384)}
RELEASE_ITEMS = 64


class PickleEveryAccess:
    """The provided-feature source before the conversion: every `get` unpickles the item's file again."""

    def __init__(self, items: list[Item], kind: str, *, progress: bool = True) -> None:
        self.paths = {item.id: item.media[kind] for item in items}
        self.dim = int(load_features(next(iter(self.paths.values()))).shape[1])

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.paths

    def get(self, item_id: str) -> np.ndarray:
        return load_features(self.paths[item_id])


def _train_log(out: Path, old: bool, monkeypatch: pytest.MonkeyPatch, data_root: Path) -> list[dict]:
    from abaw_bench.harness.train import inputs
    from abaw_bench.harness.train.config import RunConfig
    from abaw_bench.harness.train.pipeline import run

    with monkeypatch.context() as patch:
        if old:
            patch.setattr(inputs, "ProvidedSource", PickleEveryAccess)
        config = RunConfig(system="baseline", task="emi", variant="multimodal", preset="tiny",
                           data_root=str(data_root), out_root=str(out), epochs=EPOCHS, progress=False)
        outcome = run(config)
    log = (outcome.run_dir / "train_log.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in log]


@pytest.mark.benchmark(group="provided")
def test_multimodal_baseline_epoch_old_vs_converted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    benchmark) -> None:
    import torch
    from abaw_bench.harness.demo import ensure_demo

    torch.set_num_threads(2)
    data_root = ensure_demo("emi")  # in the user's cache; the conversions below go to a fresh one
    monkeypatch.setenv("ABAW_BENCH_CACHE", str(tmp_path / "cache"))
    reader_items = _demo_items(data_root)
    started = time.perf_counter()
    for kind in ("vit", "wav2vec2"):
        for items in reader_items.values():
            provided_store(items, kind, progress=False)
    conversion = time.perf_counter() - started

    after_first: dict[bool, list[float]] = {True: [], False: []}
    val_history: dict[bool, list[float]] = {}
    for round_index in range(ROUNDS):
        for old in (True, False):
            out = tmp_path / f"runs-{round_index}-{'old' if old else 'new'}"
            if round_index == 0 and not old:
                log = benchmark.pedantic(_train_log, args=(out, old, monkeypatch, data_root), rounds=1, iterations=1)
            else:
                log = _train_log(out, old, monkeypatch, data_root)
            after_first[old].append(statistics.median(entry["seconds"] for entry in log[1:]))
            val_history[old] = [entry["val"]["value"] for entry in log]
    before, after = min(after_first[True]), min(after_first[False])
    count = sum(len(items) for items in reader_items.values())
    print(f"\n[bench_provided] baseline multimodal on the demo (train 160 / val 80 clips, {EPOCHS} epochs): median "
          f"epoch after the first {before:.3f} s unpickling at every access, {after:.3f} s from the converted cache "
          f"-> {before / after:.2f}x (target >= 3x); one-time conversion of {2 * count} pickles {conversion:.2f} s")
    assert val_history[True] == val_history[False]  # the same features, so the same training, epoch for epoch


def _demo_items(data_root: Path) -> dict[str, list[Item]]:
    from abaw_bench.harness.tasks import get_task

    reader = get_task("emi").reader(data_root)
    return {split: reader.items(split) for split in ("train", "val", "test")}


@pytest.mark.benchmark(group="provided")
@pytest.mark.parametrize("protocol", [2, 4])
def test_read_pass_release_sized_pickles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, benchmark,
                                         protocol: int) -> None:
    monkeypatch.setenv("ABAW_BENCH_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    items = [Item(f"{index:05d}", "train", {}) for index in range(RELEASE_ITEMS)]
    for kind, shape in RELEASE_SHAPES.items():
        for item in items:
            path = tmp_path / kind / f"{item.id}.pkl"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(pickle.dumps(rng.standard_normal(shape).astype(np.float32), protocol=protocol))
            item.media[kind] = path
    stores = {kind: provided_store(items, kind, progress=False) for kind in RELEASE_SHAPES}
    for kind, store in stores.items():
        np.testing.assert_array_equal(store.get(items[-1].id), load_features(items[-1].media[kind]))

    def old_pass() -> None:
        for item in items:
            for kind in RELEASE_SHAPES:
                load_features(item.media[kind])

    def new_pass() -> None:
        for item in items:
            for store in stores.values():
                np.array(store.get(item.id), dtype=np.float32, copy=True)

    old_times, new_times = [], []
    for round_index in range(3):
        started = time.perf_counter()
        old_pass()
        old_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        if round_index == 0:
            benchmark.pedantic(new_pass, rounds=1, iterations=1)
        else:
            new_pass()
        new_times.append(time.perf_counter() - started)
    old, new = min(old_times), min(new_times)
    per_item = 1e6 / RELEASE_ITEMS
    print(f"\n[bench_provided] release-sized pickles (protocol {protocol}), wav2vec2 + vit per item: unpickle "
          f"{old * per_item:.0f} us, converted {new * per_item:.0f} us -> {old / new:.2f}x")
