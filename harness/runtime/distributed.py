"""torchrun support for every command (`run`, `extract`): the process group, the rank's device, collectives.

A plain `abaw-bench run` or `extract` is a world of size 1 and needs no process group. Under `torchrun` (RANK,
WORLD_SIZE, LOCAL_RANK set) `setup` joins the group, with gloo on the CPU and nccl on CUDA, and only rank 0 writes
files. This is the only module that reads the torchrun environment, so that training and feature extraction agree on
who is who and which GPU is whose.

Devices: under torchrun every CUDA request ("cuda" or an explicit "cuda:N") becomes `cuda:LOCAL_RANK`, selected with
`torch.cuda.set_device` before anything else touches CUDA, so no rank creates a context or a model copy on GPU 0 and
NCCL never sees two ranks on one GPU. Pick the GPUs with CUDA_VISIBLE_DEVICES, not with the device index. Outside
torchrun an explicit `cuda:N` is selected the same way (`claim_device`): CUDA events and streams that name no device
(the extraction's copy-done event, the profiler's timing events) belong to the current device, which would otherwise
stay GPU 0 while the model computes on GPU N.

One group per process: `setup` joins it once and every later call reuses it (feature extraction inside `run`, the
runs of `run --seeds N`); the command leaves it once at its end (`finish`). Destroying and re-creating it between
seeds hangs: the ranks wait in `init_process_group` on a rendezvous torchrun does not repeat.

Timeout: a collective waits at most the process group's timeout (default 120 minutes; the environment variable
ABAW_BENCH_DIST_TIMEOUT sets it in minutes, up to a week). Long work such as feature extraction is shared by every
rank, so ranks only ever wait for each other's imbalance, never for one rank doing everyone's work.
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
MAX_TIMEOUT_MINUTES = 7 * 24 * 60.0  # a week: beyond any wait worth making (and inf would overflow timedelta)


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    local_world_size: int = 1  # ranks on this machine (they share its CPUs and shared memory)

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
    if not 0 < minutes <= MAX_TIMEOUT_MINUTES:
        raise AbawError(f"environment variable {TIMEOUT_ENV}={text[:40]!r}: expected a positive number of minutes, "
                        f"at most {MAX_TIMEOUT_MINUTES:.0f} (a week)")
    return timedelta(minutes=minutes)


def claim_device(device: str, local_rank: int | None = None) -> None:
    """Make a CUDA `device` the process's current device before anything else touches CUDA (a no-op for the CPU).

    `local_rank` (under torchrun) only shapes the message when that rank's GPU is not visible.
    """
    if not device.startswith("cuda"):
        return
    if not torch.cuda.is_available():
        raise AbawError(f"device {device!r} requested but CUDA is not available in this torch build/machine; "
                        "use --device cpu")
    index = torch.device(device).index
    count = torch.cuda.device_count()
    if index is not None and index >= count:
        visible = f"only {count} {'is' if count == 1 else 'are'} visible"
        if local_rank is not None:
            raise AbawError(f"torchrun local rank {local_rank} needs GPU {local_rank}, but {visible}; use "
                            f"--nproc_per_node {count} or fewer")
        raise AbawError(f"device {device!r}: {visible} (cuda:0 to cuda:{count - 1}); check CUDA_VISIBLE_DEVICES")
    torch.cuda.set_device(device)


def setup(device: str, *, timeout: timedelta | None = None) -> DistContext:
    """This process's rank and device (made current, see `claim_device`), joining the torchrun process group when
    launched by torchrun.

    Idempotent: later calls (feature extraction inside `run`, the next seed of `run --seeds`) reuse the group the
    first one joined; `finish` leaves it.
    """
    if not launched_by_torchrun():
        claim_device(device)
        return DistContext(0, 1, 0, torch.device(device))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = rank_device(device, local_rank)
    cuda = resolved.startswith("cuda")
    claim_device(resolved, local_rank)
    if not dist.is_initialized():
        options: dict[str, Any] = {"timeout": timeout or process_group_timeout()}
        if cuda:
            options["device_id"] = torch.device(resolved)  # binds NCCL to this GPU at once (no lazy guess)
        dist.init_process_group("nccl" if cuda else "gloo", **options)
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, torch.device(resolved),
                       int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def per_rank_batch(global_batch: int, context: DistContext) -> int:
    """Each rank's share of the global batch, so that N ranks train at the paper's batch and learning rate."""
    if global_batch % context.world_size:
        fits = [ranks for ranks in range(1, global_batch + 1) if global_batch % ranks == 0]
        raise AbawError(f"the global batch size {global_batch} does not split evenly across {context.world_size} "
                        f"ranks: give --batch-size a multiple of {context.world_size} (e.g. "
                        f"{global_batch + context.world_size - global_batch % context.world_size}), or launch a "
                        f"number of ranks that divides {global_batch} ({', '.join(map(str, fits[:8]))}"
                        f"{', ...' if len(fits) > 8 else ''})")
    return global_batch // context.world_size


def teardown(context: DistContext) -> None:
    """Leave the group `setup` joined (also a world of one under torchrun has a group)."""
    finish()


def finish() -> None:
    """Leave the process group if this process is in one: once, at the end of a torchrun'd command."""
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
