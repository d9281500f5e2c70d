"""The batch plan: a partition of the items, small padding, deterministic, and sharded by whole batches."""

from __future__ import annotations

import numpy as np
from abaw_bench.harness.features.bucketing import (
    LengthBucketBatchSampler,
    padded_fraction,
    plan_batches,
    random_batches,
)


def _emi_like_lengths(count: int, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    return np.minimum(rng.lognormal(mean=np.log(6.9) - 0.18, sigma=0.6, size=count), 12.0).tolist()


def test_plan_is_a_partition_sorted_longest_first() -> None:
    lengths = _emi_like_lengths(1000)
    batches = plan_batches(lengths, 32)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(1000))
    assert all(len(batch) <= 32 for batch in batches)
    longest = [max(lengths[i] for i in batch) for batch in batches]
    assert longest == sorted(longest, reverse=True)
    assert plan_batches(lengths, 32) == batches


def test_bucketing_pads_far_less_than_random_batches() -> None:
    lengths = _emi_like_lengths(4000)
    bucketed = padded_fraction(lengths, plan_batches(lengths, 32))
    shuffled = padded_fraction(lengths, random_batches(len(lengths), 32))
    assert bucketed < 0.02 < 0.3 < shuffled
    assert padded_fraction([2.0, 2.0], [[0, 1]]) == 0.0
    assert padded_fraction([1.0, 3.0], [[0, 1]]) == 1 - 4 / 6


def test_sampler_shards_whole_batches_and_skips_done_ones() -> None:
    lengths = _emi_like_lengths(50)
    plan = plan_batches(lengths, 4)
    shards = [LengthBucketBatchSampler(lengths, 4, rank=rank, world_size=3).batches for rank in range(3)]
    assert sorted(map(tuple, plan)) == sorted(tuple(b) for shard in shards for b in shard)
    done = set(plan[0]) | {plan[1][0]}
    remaining = list(LengthBucketBatchSampler(lengths, 4, done=done.__contains__))
    assert remaining == plan[1:]  # batch 1 is only partly done: recomputed whole, same composition
