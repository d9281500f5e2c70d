"""Sample orders for one epoch: seeded by (seed, epoch), sharded across torchrun ranks.

`DistributedSampler` serves the plain case (shuffle for training, dataset order for inference; a world of one too).
`BalancedSampler` serves imbalanced binary tasks (BAH, hallmen2025's "balanced sampling per epoch"): each epoch draws
as many samples as the dataset holds, with replacement, every sample weighted by 1 / (size of its class), so both
classes are expected equally often. Every rank computes the same global draw from (seed, epoch) and takes its own
slice, so the ranks together see one balanced epoch, as one process would.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from abaw_bench.harness.errors import AbawError
from torch.utils.data import Sampler


class BalancedSampler(Sampler[int]):
    def __init__(self, classes: np.ndarray, *, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.classes = np.asarray(classes, dtype=np.int64)
        present = np.unique(self.classes)
        if present.size < 2:
            raise AbawError(f"class-balanced sampling needs samples of at least two classes; the training samples "
                            f"hold only class {present.tolist()}")
        counts = np.bincount(self.classes)
        weights = 1.0 / counts[self.classes]
        self.probabilities = weights / weights.sum()
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0
        self.per_rank = math.ceil(len(self.classes) / world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def global_draw(self) -> np.ndarray:
        """This epoch's draw over all ranks (padded by wrapping to a multiple of the world size)."""
        rng = np.random.default_rng([self.seed, self.epoch])
        draw = rng.choice(len(self.classes), size=len(self.classes), replace=True, p=self.probabilities)
        padding = self.per_rank * self.world_size - len(draw)
        return np.concatenate([draw, draw[:padding]]) if padding else draw

    def __iter__(self) -> Iterator[int]:
        return iter(self.global_draw()[self.rank::self.world_size].tolist())

    def __len__(self) -> int:
        return self.per_rank
