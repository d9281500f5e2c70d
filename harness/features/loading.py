"""How extraction feeds the device: decode workers, pinned memory, and a bound on the shared memory in flight.

DataLoader workers hand each collated batch to the main process through shared memory (/dev/shm), and up to
`workers × prefetch_factor` batches are in flight at once. A batch of 512 face crops at 224 px is 77 MB even as
uint8, so 8 workers with the default prefetch would need 1.2 GB — more than a container's default 64 MB /dev/shm,
where the workers die with a bus error. `loader_settings` keeps the batches in flight within a share of the free
shared memory, by lowering the prefetch, then the worker count, and decoding in the main process when a single batch
does not fit. The batch plan is never changed for this (it decides which items share a forward pass, see
`bucketing`), only how many batches wait in memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

SHM_PATH = "/dev/shm"
SHM_SHARE = 0.5  # of the free shared memory, split between the ranks of this machine
SHM_CAP = 2 << 30  # bytes per rank; more only queues batches the device cannot take any faster
CUDA_WORKERS = (4, 8)  # default decode workers per rank on CUDA: at least, at most
PREFETCH = 2


@dataclass(frozen=True)
class LoaderSettings:
    num_workers: int
    prefetch_factor: int | None  # None when decoding in the main process (DataLoader's requirement)
    pin_memory: bool
    note: str | None = None  # why the request was reduced, for the log; None when it was not


def available_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers(device: str, local_world_size: int = 1, *, cpu_workers: int = 1) -> int:
    """Decode workers when the user gives none (extraction's and training's one rule): 4–8 per rank on CUDA (a GPU
    outruns one JPEG or mp3 decoder by far), capped by this rank's share of the CPUs beyond the main process.

    On the CPU decoding competes with the model for the same cores: `cpu_workers` there (extraction: one, when there
    is a core to spare; `run`: none, as its step already computes on every core and each of its loaders would start
    its own workers).
    """
    cpus = max(1, available_cpus() // max(1, local_world_size))
    if not device.startswith("cuda"):
        return cpu_workers if cpus > 1 else 0
    low, high = CUDA_WORKERS
    return max(low, min(high, cpus - 1))


def free_shared_memory() -> int | None:
    """Free bytes in /dev/shm; None where there is no such file system (then nothing is bounded)."""
    try:
        stats = os.statvfs(SHM_PATH)
    except (OSError, AttributeError):
        return None
    return stats.f_bavail * stats.f_frsize


def loader_settings(device: str, num_workers: int | None, batch_bytes: int, *, local_world_size: int = 1,
                    free_shm: int | None = None) -> LoaderSettings:
    """Workers, prefetch and pinning for batches of at most `batch_bytes` bytes (see the module docstring).

    `num_workers` None asks for the default of `default_workers`; `free_shm` defaults to /dev/shm's free space.
    """
    pin = device.startswith("cuda")
    workers = default_workers(device, local_world_size) if num_workers is None else num_workers
    if workers == 0:
        return LoaderSettings(0, None, pin)
    free = free_shared_memory() if free_shm is None else free_shm
    if free is None:
        return LoaderSettings(workers, PREFETCH, pin)
    budget = min(SHM_CAP, int(free * SHM_SHARE / max(1, local_world_size)))
    per_batch = max(1, batch_bytes)
    prefetch = PREFETCH if workers * PREFETCH * per_batch <= budget else 1
    fitting = min(workers, budget // per_batch)
    if fitting == workers and prefetch == PREFETCH:
        return LoaderSettings(workers, PREFETCH, pin)
    shown = f"{free / 2**20:.0f} MB free in {SHM_PATH}, batches up to {per_batch / 2**20:.1f} MB"
    if fitting == 0:
        return LoaderSettings(0, None, pin, f"{shown}: decoding in the main process instead of {workers} workers "
                                            "(give the container more shared memory, e.g. docker --shm-size 8g)")
    note = f"{shown}: {fitting} worker(s), prefetch {prefetch}" + (f" instead of {workers}" if fitting < workers
                                                                   else "")
    return LoaderSettings(fitting, prefetch, pin, note)
