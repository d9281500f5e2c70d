"""The embedded demo datasets: small, deterministic, in each task's official layout, with a planted signal.

`generate(task, out, seed)` writes one; `ensure_demo(task)` generates it once into the user cache and returns its
root. A task names its dataset (`Task.dataset`; VA and Expr share one Aff-Wild2 dataset), and that dataset's
generator is `harness/demo/<dataset>.py`, exposing `generate(out: Path, seed: int) -> dict` (the returned dict is
stored in the root's marker file).
"""

from __future__ import annotations

import importlib
import json
import shutil
import tempfile
from pathlib import Path

from abaw_bench.harness.paths import DEMO_MARKER, cache_home
from abaw_bench.harness.tasks import get_task

DEMO_VERSION = "2"  # bump when a generator's output changes, so cached demos are regenerated


def generate(task: str, out: Path, seed: int = 0) -> Path:
    """Write the demo dataset for `task` into `out` (created; must be empty or absent) and return `out`."""
    dataset = get_task(task).dataset
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    generator = importlib.import_module(f"abaw_bench.harness.demo.{dataset}")
    details = generator.generate(out, seed)
    marker = {"dataset": dataset, "demo_version": DEMO_VERSION, "seed": seed, **details}
    (out / DEMO_MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def ensure_demo(task: str, seed: int = 0) -> Path:
    """The cached demo root for `task`, generated on first use. Generation goes to a temp dir renamed into place,
    so an interrupted generation never leaves a half-written dataset that later runs would trust."""
    dataset = get_task(task).dataset
    root = cache_home() / "demo" / f"{dataset}-v{DEMO_VERSION}-seed{seed}"
    if (root / DEMO_MARKER).is_file():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        generate(task, staging, seed)
        try:
            staging.rename(root)
        except OSError:  # another process finished first; its copy is identical (generation is deterministic)
            if not (root / DEMO_MARKER).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root
