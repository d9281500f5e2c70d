"""Where abaw-bench keeps things on disk, and how a generated demo dataset's root is recognised.

Standard library and `harness.jsonio` (with the `harness.files` it reads through) only: any harness module may import
this one (the command that resolves a `--data-root`, falling back to the demo, is `harness.dataroot`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from abaw_bench.harness.jsonio import BadJson, read_json

DEMO_MARKER = "ABAW_BENCH_DEMO.json"  # written at the root of every generated demo dataset
_MARKER_MAX_BYTES = 1 << 16  # a marker is a few hundred bytes; a larger file is not one


def cache_home() -> Path:
    """$ABAW_BENCH_CACHE, else $XDG_CACHE_HOME/abaw-bench, else ~/.cache/abaw-bench."""
    if env := os.environ.get("ABAW_BENCH_CACHE"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "abaw-bench"


def is_demo_root(root: Path) -> bool:
    return (root / DEMO_MARKER).is_file()


def demo_marker(root: Path) -> dict[str, Any] | None:
    """The demo marker of `root` (its "dataset" field names the demo's dataset), or None when `root` is not a demo
    root. ValueError, saying why, when the marker is not a small JSON object."""
    path = root / DEMO_MARKER
    if not path.is_file():
        return None
    try:
        body = read_json(path, max_bytes=_MARKER_MAX_BYTES)
    except BadJson as error:
        raise ValueError(error.reason) from None
    if not isinstance(body, dict):
        raise ValueError(f"a JSON {type(body).__name__}, not an object")
    return body


def file_sha256(path: str | os.PathLike[str]) -> str:
    """A file's sha256, streamed in 4 MiB blocks (submissions and weight files can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()
