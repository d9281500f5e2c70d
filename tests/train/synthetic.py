"""A tiny synthetic training problem for the engine tests (no dataset, no encoder). Runnable as a script so tests can
SIGKILL a training process or launch it under torchrun.

- "clip": sequences whose mean carries the targets, a GRU head, a Pearson scorer (one row per item);
- "frames": videos on a label-frame grid (some labels invalid), windows of 6 frames (stride 3 for training, 4 at
  inference so that windows overlap differently), a per-frame GRU head, the masked MSE, and a Pearson scorer over
  the reassembled reference rows — the frame-level path of the engine end to end."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from abaw_bench.harness.metrics.result import MetricResult
from abaw_bench.harness.runtime.distributed import setup, teardown
from abaw_bench.harness.systems import Hyper
from abaw_bench.harness.train.data import Collate, ItemDataset
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
    """A GRU over the item's rows plus a shortcut from the first K feature columns (which carry the targets): one
    output row per item [B, K], or per frame [B, L, K] with `per_frame`. `step_delay` slows each training step down
    so that a test can kill the run mid-epoch; dropout is off for the 2-rank comparison."""

    def __init__(self, step_delay: float = 0.0, dropout: float = 0.2, *, per_frame: bool = False) -> None:
        super().__init__()
        self.gru = nn.GRU(DIM, 8, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(8, K)
        self.step_delay = step_delay
        self.per_frame = per_frame

    def forward(self, inputs: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        if self.step_delay and self.training:
            time.sleep(self.step_delay)
        padded, lengths = inputs["x"]
        states, hidden = self.gru(padded)
        if self.per_frame:
            return self.out(self.dropout(states)) + padded[..., :K]
        return self.out(self.dropout(hidden[-1])) + padded.sum(1)[:, :K] / lengths[:, None]


class TinyEncoder:
    """A fine-tunable "encoder" in the engine's contract (`model`, `collate`, `forward`): a linear map of each item's
    rows, starting at the identity so that the rows keep their signal."""

    def __init__(self) -> None:
        self.model = nn.Linear(DIM, DIM)
        with torch.no_grad():
            self.model.weight.copy_(torch.eye(DIM))
            self.model.bias.zero_()

    @staticmethod
    def collate(rows: list[np.ndarray]) -> list[np.ndarray]:
        return list(rows)

    def forward(self, batch: list[np.ndarray]) -> list[torch.Tensor]:
        device = self.model.weight.device
        return [self.model(torch.from_numpy(np.ascontiguousarray(rows)).to(device)) for rows in batch]


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


class FrameTask:
    """The task facts the grid builder reads: row ids `<video>/<frame>`, -5 marks an invalid label."""

    invalid_label = -5.0
    frame_base = 0

    @staticmethod
    def parse_frame_id(row_id: str) -> tuple[str, int]:
        video, _, frame = row_id.rpartition("/")
        return video, int(frame)


def make_frame_split(n_videos: int, seed: int, *, training: bool):
    """A FrameDataset over synthetic videos whose features carry the per-frame targets. Training videos have 10 frames
    (3 windows each, the last one padded: 8 videos give 24 windows, whole batches of 8 or of 2 × 4); validation
    videos 5-17 frames."""
    from abaw_bench.harness.train.windows import FrameDataset, InputAlignment, build_grids, window_starts

    rng = np.random.default_rng(seed)
    ids = [f"v{seed}-{i}" for i in range(n_videos)]
    arrays, row_ids, labels = {}, [], []
    for video in ids:
        length = 10 if training else int(rng.integers(5, 18))
        targets = rng.random((length, K)).astype(np.float32)
        rows = rng.normal(0, 0.5, (length, DIM)).astype(np.float32)
        rows[:, :K] += targets
        arrays[video] = rows
        invalid = rng.random(length) < 0.15
        targets[invalid, 0] = FrameTask.invalid_label
        row_ids += [f"{video}/{frame}" for frame in range(length)]
        labels.append(targets)
    values = np.concatenate(labels)
    split = build_grids(FrameTask, ids, row_ids, values)
    stride = 3 if training else 4
    samples = [(g, start) for g, grid in enumerate(split.grids) for start in window_starts(grid.n_frames, 6, stride)]
    # One feature row per grid frame: the "audio" alignment's interpolation is then the identity.
    dataset = FrameDataset(split, "windows", samples, {"x": DictSource(arrays)}, {"x": InputAlignment("audio")},
                           window=6)
    return dataset, values


def pearson_frames(values: np.ndarray):
    def score(predictions: np.ndarray) -> MetricResult:
        r = []
        for k in range(K):
            valid = values[:, k] != FrameTask.invalid_label
            r.append(float(np.corrcoef(predictions[valid, k], values[valid, k])[0, 1]))
        return MetricResult("pearson", float(np.mean(r)), {f"c{k}": v for k, v in enumerate(r)})

    return score


def train(run_dir: Path, *, epochs: int = 3, seed: int = 0, resume: bool = False, step_delay: float = 0.0,
          device: str = "cpu", patience: int | None = None, mode: str = "clip", batch_size: int = 8,
          dropout: float = 0.2, freeze_epoch: int | None = None, schedule_epochs: int | None = None) -> dict:
    """`mode` "encoder": the clip problem with its rows passed through a `TinyEncoder` trained with the head (frozen
    from `freeze_epoch` on); the summary then carries the encoder's final weights."""
    context = setup(device)
    seed_everything(seed)
    collate = Collate({"x": DIM})
    encoder = None
    if mode == "encoder":
        from abaw_bench.harness.train.data import PreparedSource

        encoder = TinyEncoder()
        train_ids, train_source, train_targets = make_split(64, 1)
        val_ids, val_source, val_targets = make_split(24, 2)
        train_set = ItemDataset(train_ids, {}, {"x": PreparedSource(train_source.get, np.asarray)}, train_targets)
        val_set = ItemDataset(val_ids, {}, {"x": PreparedSource(val_source.get, np.asarray)}, val_targets)
        model = TrainableModel(TinyHead(step_delay, dropout), {"x": encoder})
        score = pearson_score(val_targets)
        collate = Collate({}, {"x": encoder.collate})
    elif mode == "frames":
        train_set, _ = make_frame_split(8, 1, training=True)
        val_set, val_values = make_frame_split(6, 2, training=False)
        model = TrainableModel(TinyHead(step_delay, dropout, per_frame=True))
        score = pearson_frames(val_values)
    else:
        train_ids, train_source, train_targets = make_split(64, 1)
        val_ids, val_source, val_targets = make_split(24, 2)
        train_set = ItemDataset(train_ids, {"x": train_source}, targets=train_targets)
        val_set = ItemDataset(val_ids, {"x": val_source}, targets=val_targets)
        model = TrainableModel(TinyHead(step_delay, dropout))
        score = pearson_score(val_targets)
    settings = FitSettings(Hyper(epochs=epochs, batch_size=batch_size, lr=3e-3, grad_clip_value=100.0,
                                 early_stopping_patience=patience, encoder_freeze_epoch=freeze_epoch),
                           rank_batch_size=batch_size, seed=seed, progress=False, schedule_epochs=schedule_epochs)
    trainer = Trainer(model, settings, context, run_dir)
    result = trainer.fit(train_set, collate, val_set, score, resume=resume)
    summary = {"best_epoch": result.best_epoch, "best": result.best_metric.value,
               "history": [[h["train_loss"], h["val"]["value"]] for h in result.history], "rank": context.rank,
               "world_size": context.world_size}
    if encoder is not None:
        summary["encoder_weight"] = encoder.model.weight.detach().cpu().tolist()
    teardown(context)
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--step-delay", type=float, default=0.0)
    parser.add_argument("--mode", choices=("clip", "frames", "encoder"), default="clip")
    parser.add_argument("--freeze-epoch", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--dropout", type=float, default=0.2)
    args = parser.parse_args()
    outcome = train(args.run_dir, epochs=args.epochs, resume=args.resume, step_delay=args.step_delay, mode=args.mode,
                    batch_size=args.batch_size, dropout=args.dropout, freeze_epoch=args.freeze_epoch)
    if outcome["rank"] == 0:
        (args.run_dir / "summary.json").write_text(json.dumps(outcome))
    sys.exit(0)
