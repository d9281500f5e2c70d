"""Length bucketing: batches of items of similar length, so that padding to the batch's longest item wastes little.

Batches are consecutive runs of the items sorted by length (ties by position, so the plan is deterministic), served
longest first so that an out-of-memory batch shows up at once rather than at the end of a long run. The plan depends
only on the lengths, the batch size and the budget — never on which items are already cached or on the process's
rank — which is what makes a resumed or a `torchrun`-sharded run compute every item in exactly the batch an
uninterrupted single-process run would, and therefore bit-identical features.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence


def plan_batches(lengths: Sequence[float], batch_size: int | None, *, budget: float | None = None) -> list[list[int]]:
    """Indices into `lengths` grouped into batches, longest batch first.

    A batch holds at most `batch_size` items and, with a `budget`, items whose lengths sum to at most `budget` (an
    item longer than the budget gets a batch of its own). Image encoders batch by a budget of images, so that a
    forward pass holds a similar number of images whether the clips have 8 face crops or 400.
    """
    if batch_size is None and budget is None:
        raise ValueError("give a batch_size, a budget or both")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if budget is not None and budget <= 0:
        raise ValueError(f"budget must be > 0, got {budget}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    if budget is None:
        return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    batches: list[list[int]] = []
    current: list[int] = []
    total = 0.0
    for index in order:
        full = batch_size is not None and len(current) == batch_size
        if current and (full or total + lengths[index] > budget):
            batches.append(current)
            current, total = [], 0.0
        current.append(index)
        total += lengths[index]
    if current:
        batches.append(current)
    return batches


def random_batches(count: int, batch_size: int, seed: int = 0) -> list[list[int]]:
    """Batches of a random permutation: what a shuffled DataLoader does; the baseline for `padded_fraction`."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return [order[start:start + batch_size] for start in range(0, count, batch_size)]


def padded_fraction(lengths: Sequence[float], batches: Sequence[Sequence[int]]) -> float:
    """Share of the padded batch tensors that is padding: 1 - Σ lengths / Σ (batch size × longest in batch)."""
    real = sum(lengths[i] for batch in batches for i in batch)
    padded = sum(len(batch) * max(lengths[i] for i in batch) for batch in batches if batch)
    return 0.0 if padded == 0 else 1.0 - real / padded


class LengthBucketBatchSampler:
    """A DataLoader `batch_sampler` over one rank's share of the plan: batches rank, rank + world, ...

    Sharding whole batches (not items) keeps every batch's composition equal to the single-process plan. Batches
    whose items are all `done` (cached) are dropped; a partly cached batch is recomputed whole, for the same reason.
    """

    def __init__(self, lengths: Sequence[float], batch_size: int | None, *, budget: float | None = None, rank: int = 0,
                 world_size: int = 1, done: Callable[[int], bool] | None = None) -> None:
        mine = plan_batches(lengths, batch_size, budget=budget)[rank::world_size]
        self.batches = [batch for batch in mine if done is None or not all(done(i) for i in batch)]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)
