"""Atomic file writes: results, checkpoints, caches and submissions are never left half-written.

Every writer goes through `atomic_path`: it yields a temporary path in the destination's directory (same file
system, so `os.replace` is atomic) and renames it over the destination only when the block finishes without error.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path beside `destination`; on success fsync it and rename it into place."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp creates 0600; give the file the mode open() would
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, destination)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(destination: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(destination) as tmp:
        tmp.write_bytes(data)


def write_text(destination: str | os.PathLike[str], text: str) -> None:
    # newline="" keeps the caller's line endings byte-exact on every platform.
    with atomic_path(destination) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def write_json(destination: str | os.PathLike[str], obj: Any) -> None:
    write_text(destination, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")
