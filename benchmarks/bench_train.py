"""Training-engine overhead: one epoch through the engine (memory-mapped cached features → Dataset → collate →
DataLoader → step with AdamW, schedule, clipping) against pure forward/backward/step on the same pre-built batches.

ratio = pure time / engine time; data handling must not dominate (target ≥ 0.8). The head is hallmen2024's
"+ global vector" head at the paper width (wav2vec2-vad features, D = 1027).

    pytest benchmarks/bench_train.py --benchmark-only -s
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from abaw_bench.harness.features.store import FeatureStore
from abaw_bench.harness.runtime.distributed import DistContext
from abaw_bench.harness.systems import Hyper, get_system
from abaw_bench.harness.train.data import Collate, ItemDataset
from abaw_bench.harness.train.engine import FitSettings, TrainableModel, Trainer, make_loader, seed_everything

ITEMS, BATCH, DIM, MAX_FRAMES = 48, 16, 1027, 200
ROUNDS = 2
INPUT = "wav2vec2-vad"


def _cached_features(directory: Path) -> tuple[FeatureStore, np.ndarray]:
    rng = np.random.default_rng(0)
    entries = {}
    for index in range(ITEMS):
        path = directory / f"{index:05d}.npy"
        np.save(path, rng.standard_normal((int(rng.integers(50, MAX_FRAMES)), DIM)).astype(np.float32))
        entries[f"{index:05d}"] = path
    store = FeatureStore(directory, entries, modality="audio", dim=DIM, summary={})
    return store, rng.random((ITEMS, 6)).astype(np.float32)


def _model() -> TrainableModel:
    spec = get_system("hallmen2024")
    variant = spec.variant("emi", "audio-global")
    seed_everything(0)
    knobs = spec.knobs_for("emi", variant, "paper")
    return TrainableModel(spec.build_model("emi", variant, {INPUT: DIM}, knobs, spec.hyper_for("emi", variant)))


def _pure_steps(batches: list[dict]) -> float:
    model = _model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    started = time.perf_counter()
    for batch in batches:
        loss = torch.nn.functional.mse_loss(model(batch["features"], {}), batch["targets"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


@pytest.mark.benchmark(group="train")
def test_engine_epoch_vs_pure_steps(tmp_path: Path, benchmark) -> None:
    torch.set_num_threads(2)
    store, targets = _cached_features(tmp_path)
    dataset = ItemDataset(store.ids, {INPUT: store}, targets=targets)
    collate = Collate({INPUT: DIM})
    context = DistContext(0, 1, 0, torch.device("cpu"))
    settings = FitSettings(Hyper(epochs=1, batch_size=BATCH, lr=1e-4, grad_clip_value=100.0), rank_batch_size=BATCH,
                           progress=False)
    loader, sampler = make_loader(dataset, collate, BATCH, shuffle=True, seed=0, context=context, num_workers=0)
    sampler.set_epoch(1)
    batches = list(loader)  # the same batches the engine's first epoch sees, built once in advance

    loop_times, total_times, pure_times = [], [], []

    def engine_epoch() -> None:
        started = time.perf_counter()
        result = Trainer(_model(), settings, context, tmp_path / "run").fit(dataset, collate)
        total_times.append(time.perf_counter() - started)
        loop_times.append(result.history[0]["seconds"])  # the epoch's training loop, without the checkpoint write

    for round_index in range(ROUNDS):  # interleaved: a busy machine slows both sides alike; each side's minimum counts
        pure_times.append(_pure_steps(batches))
        if round_index == 0:
            benchmark.pedantic(engine_epoch, rounds=1, iterations=1)
        else:
            engine_epoch()
    pure, loop, total = min(pure_times), min(loop_times), min(total_times)
    print(f"\n[bench_train] {ITEMS} items, batch {BATCH}, D={DIM}, hallmen2024 paper head: pure forward/backward/"
          f"step {pure:.2f} s; engine epoch loop {loop:.2f} s -> ratio {pure / loop:.2f} (target >= 0.8); "
          f"with the checkpoint writes (last.pt + best.pt) {total:.2f} s -> ratio {pure / total:.2f}")
    assert pure / loop > 0.5
