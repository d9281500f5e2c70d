"""Sample orders for one epoch: seeded by (seed, epoch), sharded across torchrun ranks.

`Hyper.epoch_sampling` (one of EPOCH_SAMPLINGS) chooses what one training epoch is:
- "all": every sample once, shuffled (`DistributedSampler`; also for a world of one). Inference always uses it,
  unshuffled, in dataset order.
- "balanced-frames" (`BalancedSampler`): as many samples as the dataset holds, drawn with replacement, each weighted
  by 1 / (size of its class), so both classes of a binary task are expected equally often.
- "balanced-segments" (`SegmentSampler`): hallmen2025's "balanced sampling per epoch" as the authors' code does it
  (Hallmen et al., CVPR Workshops 2025; their `HumeDatasetTrain.sample_balanced` and `__getitem__`): every
  label-constant segment of a video is one candidate; all segments of the minority class and as many segments of the
  majority class, drawn without replacement, make the epoch, and each chosen segment yields one frame drawn uniformly
  within 12-88 % of its length (so the transition frames at a segment's edges are avoided). An epoch therefore holds
  twice the minority class's segment count (ABAW-8 BAH train: 2 × 537 of 1,460 segments, ≈ 34 steps of 32).

Every rank computes the same global draw from (seed, epoch) and takes its own slice (padded by wrapping to a multiple
of the world size), so the ranks together see one epoch, as one process would. `epoch_samples` gives the global number
of samples an epoch holds before that padding (train_log.jsonl's `train_samples`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.systems import EPOCH_SAMPLINGS
from torch.utils.data import Dataset, DistributedSampler, Sampler

SEGMENT_DRAW = (0.12, 0.88)  # the part of a segment its frame is drawn from (the authors' `np.random.uniform` range)


class _ShardedDraw(Sampler[int]):
    """A global draw per epoch, computed identically on every rank, each rank iterating its own slice."""

    def __init__(self, epoch_samples: int, *, seed: int, rank: int, world_size: int) -> None:
        self.epoch_samples = epoch_samples
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0
        self.per_rank = math.ceil(epoch_samples / world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def global_draw(self) -> np.ndarray:
        """This epoch's draw over all ranks (padded by wrapping to a multiple of the world size)."""
        draw = self.draw(np.random.default_rng([self.seed, self.epoch]))
        padding = self.per_rank * self.world_size - len(draw)
        return np.concatenate([draw, draw[:padding]]) if padding else draw

    def __iter__(self) -> Iterator[int]:
        return iter(self.global_draw()[self.rank::self.world_size].tolist())

    def __len__(self) -> int:
        return self.per_rank


def _two_classes(classes: np.ndarray, unit: str) -> np.ndarray:
    """The count per class; AbawError unless both classes of a binary task are present."""
    present = np.unique(classes)
    if present.size < 2:
        raise AbawError(f"class-balanced sampling needs {unit} of at least two classes; the training {unit} hold only "
                        f"class {present.tolist()}")
    return np.bincount(classes)


class BalancedSampler(_ShardedDraw):
    """"balanced-frames": len(classes) samples with replacement, each class expected equally often."""

    def __init__(self, classes: np.ndarray, *, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.classes = np.asarray(classes, dtype=np.int64)
        counts = _two_classes(self.classes, "samples")
        weights = 1.0 / counts[self.classes]
        self.probabilities = weights / weights.sum()
        super().__init__(len(self.classes), seed=seed, rank=rank, world_size=world_size)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        return rng.choice(len(self.classes), size=len(self.classes), replace=True, p=self.probabilities)


class SegmentSampler(_ShardedDraw):
    """"balanced-segments": one frame per chosen segment, the majority class undersampled to the minority's count.

    `segments[k]` holds the sample indices of segment k, in frame order, and `frames[k]` their frames; `classes[k]`
    is its class. A segment's frame is first + (last − first)·u, u uniform in SEGMENT_DRAW, rounded down as the
    authors did; when the dataset does not sample that very frame (frame_step > 1, or a frame without a label), the
    segment's nearest sampled frame (the earlier on a tie) stands in.
    """

    def __init__(self, segments: Sequence[np.ndarray], frames: Sequence[np.ndarray], classes: np.ndarray, *,
                 seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.segments = [np.asarray(segment, dtype=np.int64) for segment in segments]
        self.frames = [np.asarray(frame, dtype=np.int64) for frame in frames]
        self.classes = np.asarray(classes, dtype=np.int64)
        counts = _two_classes(self.classes, "segments")
        self.minority = int(np.argmin(counts[:2]))
        self.per_class = int(counts[self.minority])
        super().__init__(2 * self.per_class, seed=seed, rank=rank, world_size=world_size)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        minority = np.flatnonzero(self.classes == self.minority)
        majority = rng.choice(np.flatnonzero(self.classes != self.minority), size=self.per_class, replace=False)
        chosen = rng.permutation(np.concatenate([minority, majority]))
        positions = rng.uniform(*SEGMENT_DRAW, size=len(chosen))
        return np.array([self._sample_at(int(k), float(u)) for k, u in zip(chosen, positions, strict=True)],
                        dtype=np.int64)

    def _sample_at(self, segment: int, position: float) -> int:
        frames = self.frames[segment]
        frame = int(frames[0] + (frames[-1] - frames[0]) * position)
        after = int(np.clip(np.searchsorted(frames, frame), 0, len(frames) - 1))
        before = max(after - 1, 0)
        nearest = before if abs(frame - frames[before]) <= abs(frames[after] - frame) else after
        return int(self.segments[segment][nearest])


def epoch_sampler(dataset: Dataset, epoch_sampling: str, *, shuffle: bool, seed: int, rank: int,
                  world_size: int) -> Sampler[int]:
    """The sampler of one loader: `epoch_sampling` for training (`shuffle`), dataset order for inference."""
    if epoch_sampling not in EPOCH_SAMPLINGS:
        raise AbawError(f"epoch sampling {epoch_sampling!r}: expected one of {', '.join(EPOCH_SAMPLINGS)}")
    if shuffle and epoch_sampling == "balanced-frames":
        return BalancedSampler(dataset.sample_classes(), seed=seed, rank=rank, world_size=world_size)
    if shuffle and epoch_sampling == "balanced-segments":
        if not hasattr(dataset, "sample_segments"):
            raise AbawError("epoch sampling 'balanced-segments' needs frame-level samples (centred sampling)")
        segments, frames, classes = dataset.sample_segments()
        return SegmentSampler(segments, frames, classes, seed=seed, rank=rank, world_size=world_size)
    return DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed,
                              drop_last=False)


def epoch_samples(sampler: Sampler[int], dataset: Dataset) -> int:
    """The global number of samples one epoch of `sampler` draws (before padding to the world size)."""
    return getattr(sampler, "epoch_samples", len(dataset))
