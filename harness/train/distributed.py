"""torchrun support for every command (`run`, `extract`): the process group, the rank's device, collectives.

A plain `abaw-bench run` or `extract` is a world of size 1 and needs no process group. Under `torchrun` (RANK,
WORLD_SIZE, LOCAL_RANK set) `setup` joins the group, with gloo on the CPU and nccl on CUDA, and only rank 0 writes
files. This is the only module that reads the torchrun environment, so that training and feature extraction agree on
who is who and which GPU is whose.

Devices: under torchrun every CUDA request ("cuda" or an explicit "cuda:N") becomes `cuda:LOCAL_RANK`, selected with
`torch.cuda.set_device` before anything else touches CUDA, so no rank creates a context or a model copy on GPU 0 and
NCCL never sees two ranks on one GPU. Pick the GPUs with CUDA_VISIBLE_DEVICES, not with the device index.

Timeout: a collective waits at most the process group's timeout (default 120 minutes; the environment variable
ABAW_BENCH_DIST_TIMEOUT sets it in minutes). Long work such as feature extraction is shared by every rank, so ranks
only ever wait for each other's imbalance, never for one rank doing everyone's work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from abaw_bench.harness.errors import AbawError

TIMEOUT_ENV = "ABAW_BENCH_DIST_TIMEOUT"
DEFAULT_TIMEOUT_MINUTES = 120.0


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


def rank_device(requested: str, local_rank: int | None) -> str:
    """The device this process computes on; `local_rank` is None outside torchrun.

    Outside torchrun the request stands. Under torchrun a CUDA request of any index means this rank's GPU,
    `cuda:LOCAL_RANK` (an explicit `cuda:0` given to every rank would otherwise put them all on one GPU).
    """
    if local_rank is None or not requested.startswith("cuda"):
        return requested
    return f"cuda:{local_rank}"


def process_group_timeout() -> timedelta:
    """The collectives' timeout: $ABAW_BENCH_DIST_TIMEOUT minutes, else the generous default."""
    text = os.environ.get(TIMEOUT_ENV)
    if text is None:
        return timedelta(minutes=DEFAULT_TIMEOUT_MINUTES)
    try:
        minutes = float(text)
    except ValueError:
        minutes = -1.0
    if not minutes > 0:
        raise AbawError(f"environment variable {TIMEOUT_ENV}={text[:40]!r}: expected a positive number of minutes")
    return timedelta(minutes=minutes)


def _claim_gpu(device: str, local_rank: int) -> None:
    """Select the rank's GPU; the first CUDA call of the process, so the context lands on that GPU."""
    if not torch.cuda.is_available():
        raise AbawError(f"device {device!r} requested but CUDA is not available in this torch build/machine; "
                        "use --device cpu")
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise AbawError(f"torchrun local rank {local_rank} needs GPU {local_rank}, but only {count} "
                        f"{'is' if count == 1 else 'are'} visible; use --nproc_per_node {count} or fewer")
    torch.cuda.set_device(device)


def setup(device: str, *, timeout: timedelta | None = None) -> DistContext:
    """This process's rank and device, joining the torchrun process group when launched by torchrun.

    Idempotent: a second call (e.g. feature extraction inside `run`) reuses the group the first one created.
    """
    if not launched_by_torchrun():
        return DistContext(0, 1, 0, torch.device(device))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = rank_device(device, local_rank)
    cuda = resolved.startswith("cuda")
    if cuda:
        _claim_gpu(resolved, local_rank)
    if not dist.is_initialized():
        options: dict[str, Any] = {"timeout": timeout or process_group_timeout()}
        if cuda:
            options["device_id"] = torch.device(resolved)  # binds NCCL to this GPU at once (no lazy guess)
        dist.init_process_group("nccl" if cuda else "gloo", **options)
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, torch.device(resolved))


def teardown(context: DistContext) -> None:
    """Leave the group `setup` joined (also a world of one under torchrun has a group)."""
    finish()


def finish() -> None:
    """Leave the process group if this process is in one (the end of a torchrun'd command)."""
    if dist.is_available() and dist.is_initialized():
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
