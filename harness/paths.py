"""Where abaw-bench keeps things on disk, and how `--data-root` falls back to the embedded demo dataset."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from abaw_bench.harness.errors import AbawError

DEMO_MARKER = "ABAW_BENCH_DEMO.json"  # written at the root of every generated demo dataset


def cache_home() -> Path:
    """$ABAW_BENCH_CACHE, else $XDG_CACHE_HOME/abaw-bench, else ~/.cache/abaw-bench."""
    if env := os.environ.get("ABAW_BENCH_CACHE"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "abaw-bench"


def is_demo_root(root: Path) -> bool:
    return (root / DEMO_MARKER).is_file()


def resolve_data_root(task: str, data_root: str | os.PathLike[str] | None, *, quiet: bool = False) -> Path:
    """The dataset root to use: the user's, checked to exist, or the demo dataset, generated once into the cache.

    When falling back to the demo, a notice goes to stderr so that no figure is mistaken for a real-data result.
    """
    if data_root is not None:
        root = Path(data_root).expanduser()
        if not root.is_dir():
            raise AbawError(f"--data-root {root}: no such directory (expected the {task} dataset's root folder)")
        return root
    from abaw_bench.harness.demo import ensure_demo  # deferred: generation code is only needed on the fallback path

    root = ensure_demo(task)
    if not quiet:
        print(f"[abaw-bench] no --data-root given: using the embedded DEMO dataset for {task!r} at {root}. "
              "Results on it say nothing about the real benchmark.", file=sys.stderr)
    return root


def file_sha256(path: str | os.PathLike[str]) -> str:
    """A file's sha256, streamed in 4 MiB blocks (submissions and weight files can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()
