"""Checkpoints that load with `torch.load(weights_only=True)` and restore training exactly, on any device.

Everything stored is a tensor or a plain Python type: the python `random` state becomes an int64 tensor plus plain
values, numpy's a dict of plain values, torch's CPU and CUDA generator states are uint8 tensors already. Writes
go through `harness.atomic`, so a run killed while saving leaves the previous checkpoint intact.

Random states are per process: under torchrun every rank draws its own dropout masks, so the checkpoint keeps one
state per rank (`gather_rng_states` on every rank, rank 0 saves the list) and each rank restores its own
(`restore_rng_state`). Generator states are CPU byte tensors whatever device the rest of the checkpoint is loaded to
(`load(path, map_location="cuda:1")` keeps them on the CPU), because `torch.set_rng_state` and
`torch.cuda.set_rng_state` accept nothing else.
"""

from __future__ import annotations

import io
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from abaw_bench.harness import torchfiles
from abaw_bench.harness.atomic import write_bytes
from abaw_bench.harness.errors import AbawError, printable
from abaw_bench.harness.runtime.distributed import DistContext, gather_objects

RNG_KEY = "rng"  # the checkpoint entry holding random states; never moved off the CPU by `load`


def rng_state() -> dict[str, Any]:
    """This process's state of every random generator a training step can touch, in weights_only-loadable types."""
    version, internal, gauss = random.getstate()
    numpy_state = np.random.get_state(legacy=False)
    return {
        "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "bit_generator": numpy_state["bit_generator"],
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _cpu_bytes(state: torch.Tensor) -> torch.Tensor:
    return state.detach().to("cpu", torch.uint8)


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore `rng_state()`'s output; tensors found on another device are brought back to the CPU first.

    CUDA generator states are restored for the GPUs visible now (a state saved for a GPU that is not visible is
    left out: nothing here can draw from it).
    """
    python = state["python"]
    random.setstate((python["version"], tuple(int(v) for v in python["internal"].cpu().tolist()), python["gauss"]))
    numpy = state["numpy"]
    np.random.set_state({
        "bit_generator": numpy["bit_generator"],
        "state": {"key": numpy["key"].cpu().numpy().astype(np.uint32), "pos": numpy["pos"]},
        "has_gauss": numpy["has_gauss"],
        "gauss": numpy["gauss"],
    })
    torch.set_rng_state(_cpu_bytes(state["torch"]))
    if state["cuda"] and torch.cuda.is_available():
        for index, cuda_state in enumerate(list(state["cuda"])[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(_cpu_bytes(cuda_state), index)


def gather_rng_states(context: DistContext) -> list[dict[str, Any]]:
    """Every rank's `rng_state()`, in rank order; a collective: call it on all ranks, then rank 0 saves the list."""
    return gather_objects(context, rng_state())


def restore_rng_state(saved: Mapping[str, Any] | list[Mapping[str, Any]], context: DistContext,
                      path: Path | str = "the checkpoint") -> None:
    """Restore this rank's entry of `gather_rng_states`' list (or a single state, as older checkpoints hold).

    A list saved by a different number of processes is an error: the data order and every rank's dropout masks
    depend on the world size, so that run cannot be continued exactly.
    """
    if isinstance(saved, Mapping):
        set_rng_state(saved)
        return
    if len(saved) != context.world_size:
        raise AbawError(f"{path}: saved by {len(saved)} process(es), this run has {context.world_size}; resume "
                        f"with the same number of processes (torchrun --nproc_per_node {len(saved)})")
    set_rng_state(saved[context.rank])


def _scaler_precision(state: Mapping[str, Any]) -> str | None:
    """The precision a checkpoint was trained in: its own record, else what its GradScaler state implies
    (a disabled scaler saves {}, i.e. fp32 or bf16 — None when it cannot tell which)."""
    if isinstance(state.get("precision"), str):
        return state["precision"]
    return "fp16" if state.get("scaler") else None


def check_resume_precision(state: Mapping[str, Any], precision: str, path: Path | str = "the checkpoint") -> None:
    """AbawError unless the checkpoint `state` was trained in `precision` (the run's resolved one).

    fp16 trains with a GradScaler and bf16/fp32 without; a scaler's state cannot be carried across that line (an fp16
    scaler cannot load a disabled one's {}, and a disabled one silently drops an fp16 scale).
    """
    saved = _scaler_precision(state)
    if saved is None:
        if precision == "fp16":
            raise AbawError(f"{path}: trained without fp16 loss scaling (fp32 or bf16), but this run computes in fp16 "
                            "(this GPU has no bf16); resume on the kind of device that started the run")
        return
    if saved != precision:
        raise AbawError(f"{path}: trained in {saved}, but this run computes in {precision}; resume on the kind of "
                        f"device that started the run (the precision cannot change mid-run)")


def save(path: Path, payload: dict[str, Any]) -> None:
    """Serialise to memory, then write atomically (temp file + rename)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes(path, buffer.getvalue())


def _to_device(value: Any, device: str | torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {key: _to_device(item, device) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_device(item, device) for item in value)
    return value


def load(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with weights_only=True (no arbitrary code runs); a damaged file or a pickle of objects is a
    user-facing error (`harness.torchfiles`).

    Tensors go to `map_location`, except the random states under `RNG_KEY`, which stay on the CPU.
    """
    with torchfiles.reading(path, "checkpoint"):
        payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict):
        raise AbawError(f"{printable(str(path))}: not an abaw-bench checkpoint (expected a dict, found "
                        f"{type(payload).__name__})")
    if torch.device(map_location).type == "cpu":
        return payload
    return {key: value if key == RNG_KEY else _to_device(value, map_location) for key, value in payload.items()}
