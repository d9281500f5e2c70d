"""Checkpoints that load with `torch.load(weights_only=True)` and restore training exactly.

Everything stored is a tensor or a plain Python type: the python `random` state becomes an int64 tensor plus plain
values, numpy's a dict of plain values, torch's CPU and CUDA generator states are uint8 tensors already. Writes
go through `harness.atomic`, so a run killed while saving leaves the previous checkpoint intact.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from abaw_bench.harness.atomic import write_bytes
from abaw_bench.harness.errors import AbawError


def rng_state() -> dict[str, Any]:
    """The state of every random generator a training step can touch, in weights_only-loadable types."""
    version, internal, gauss = random.getstate()
    numpy_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
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
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    python = state["python"]
    random.setstate((python["version"], tuple(int(v) for v in python["internal"].tolist()), python["gauss"]))
    numpy = state["numpy"]
    np.random.set_state({
        "bit_generator": numpy["bit_generator"],
        "state": {"key": numpy["key"].numpy().astype(np.uint32), "pos": numpy["pos"]},
        "has_gauss": numpy["has_gauss"],
        "gauss": numpy["gauss"],
    })
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: Path, payload: dict[str, Any]) -> None:
    """Serialise to memory, then write atomically (temp file + rename)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes(path, buffer.getvalue())


def load(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with weights_only=True (no arbitrary code runs); a damaged file is a user-facing error."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError as error:
        raise AbawError(f"{path}: no checkpoint to load") from error
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError... for damaged files
        raise AbawError(f"{path}: cannot load the checkpoint ({type(error).__name__}: {error})") from error
