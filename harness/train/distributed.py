"""torchrun support: process-group setup from the environment, rank-0 writes and gathering of predictions.

A plain `abaw-bench run` is a world of size 1 and none of this needs a process group. Under `torchrun` (RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR set) the group is initialised with gloo on CPU and nccl on CUDA, each process
takes the GPU of its LOCAL_RANK, and only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(device: str) -> DistContext:
    """Initialise the process group when launched by torchrun; otherwise a single-process context on `device`."""
    if not launched_by_torchrun():
        return DistContext(0, 1, 0, torch.device(device))
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local_rank)
        resolved = torch.device("cuda", local_rank)
        backend = "nccl"
    else:
        resolved = torch.device("cpu")
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistContext(rank, world_size, local_rank, resolved)


def teardown(context: DistContext) -> None:
    if context.active and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: DistContext) -> None:
    if context.active:
        dist.barrier()


def gather_objects(context: DistContext, obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order (all ranks receive the list; the payloads here are small)."""
    if not context.active:
        return [obj]
    gathered: list[Any] = [None] * context.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_object(context: DistContext, obj: Any) -> Any:
    """Rank 0's `obj` on every rank (so early-stopping decisions agree everywhere)."""
    if not context.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
