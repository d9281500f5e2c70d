"""A tiny synthetic training problem for the engine tests (no dataset, no encoder): sequences whose mean carries
the targets, a GRU head, and a Pearson scorer. Runnable as a script so tests can SIGKILL a training process."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from abaw_bench.harness.tasks.base import MetricResult
from abaw_bench.harness.train.data import Collate, ItemDataset
from abaw_bench.harness.train.distributed import setup, teardown
from abaw_bench.harness.train.engine import FitSettings, TrainableModel, Trainer, seed_everything
from torch import nn

DIM, K = 5, 2


class DictSource:
    """A feature source over in-memory arrays (what a FeatureStore provides from disk)."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self.dim = DIM

    def get(self, item_id: str) -> np.ndarray:
        return self.arrays[item_id]


class TinyHead(nn.Module):
    def __init__(self, step_delay: float = 0.0, dropout: float = 0.2) -> None:
        super().__init__()
        self.gru = nn.GRU(DIM, 8, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(8, K)
        self.step_delay = step_delay

    def forward(self, inputs: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        if self.step_delay and self.training:
            time.sleep(self.step_delay)
        padded, lengths = inputs["x"]
        _, hidden = self.gru(padded)
        return self.out(self.dropout(hidden[-1])) + padded.sum(1)[:, :K] / lengths[:, None]


def make_split(n: int, seed: int) -> tuple[list[str], DictSource, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = [f"{seed}-{i:04d}" for i in range(n)]
    targets = rng.random((n, K)).astype(np.float32)
    arrays = {}
    for item_id, target in zip(ids, targets, strict=True):
        length = int(rng.integers(1, 9))
        rows = rng.normal(0, 0.5, (length, DIM)).astype(np.float32)
        rows[:, :K] += target
        arrays[item_id] = rows
    return ids, DictSource(arrays), targets


def pearson_score(targets: np.ndarray):
    def score(predictions: np.ndarray) -> MetricResult:
        r = [float(np.corrcoef(predictions[:, k], targets[:, k])[0, 1]) for k in range(K)]
        return MetricResult("pearson", float(np.mean(r)), {f"c{k}": v for k, v in enumerate(r)})

    return score


def train(run_dir: Path, *, epochs: int = 3, seed: int = 0, resume: bool = False, step_delay: float = 0.0,
          device: str = "cpu", patience: int | None = None) -> dict:
    context = setup(device)
    seed_everything(seed)
    train_ids, train_source, train_targets = make_split(64, 1)
    val_ids, val_source, val_targets = make_split(24, 2)
    model = TrainableModel(TinyHead(step_delay))
    settings = FitSettings(epochs=epochs, batch_size=8, lr=3e-3, seed=seed, grad_clip_value=100.0, progress=False,
                           early_stopping_patience=patience)
    trainer = Trainer(model, settings, context, run_dir)
    collate = Collate({"x": DIM})
    result = trainer.fit(ItemDataset(train_ids, {"x": train_source}, targets=train_targets), collate,
                         ItemDataset(val_ids, {"x": val_source}, targets=val_targets), pearson_score(val_targets),
                         resume=resume)
    summary = {"best_epoch": result.best_epoch, "best": result.best_metric.value,
               "history": [[h["train_loss"], h["val"]["value"]] for h in result.history], "rank": context.rank,
               "world_size": context.world_size}
    teardown(context)
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--step-delay", type=float, default=0.0)
    args = parser.parse_args()
    outcome = train(args.run_dir, epochs=args.epochs, resume=args.resume, step_delay=args.step_delay)
    if outcome["rank"] == 0:
        (args.run_dir / "summary.json").write_text(json.dumps(outcome))
    sys.exit(0)
