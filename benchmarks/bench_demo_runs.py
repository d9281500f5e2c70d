"""Default demo runs: wall time, cold and cached, and peak memory of `abaw-bench run --system S --task T`.

Run: pytest benchmarks/bench_demo_runs.py --benchmark-only -s      (-k "wen2024 and expr": one row)

Every system's default variant on every task it has, on the embedded demo with its demo schedule (SystemSpec.demo),
as a new user runs it. Each run is its own process (`python -m abaw_bench.harness run ... --quiet`), so that its peak
resident memory (wait4's ru_maxrss: the run's process, or a DataLoader worker it reaped if that was larger) is its own.
"Cold": an empty abaw-bench cache (the demo dataset is generated, every encoder's features extracted); "cached": a
second run with that cache in place, into another run directory. Models fetched into the Hugging Face cache (the tiny
preset's MiniLM) are not part of abaw-bench's cache and count as present in both. Target: every cold run ≤ 3 min on 2
idle cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from abaw_bench.harness.systems import SYSTEMS

DEFAULT_RUNS = [(spec.name, task) for _, spec in SYSTEMS for task in spec.tasks]
TARGET_SECONDS = 180.0


def timed_run(system: str, task: str, out: Path, cache: Path) -> tuple[float, float]:
    """Wall seconds and peak resident MiB (wait4: the run's process, or a worker it reaped if larger) of one run."""
    command = [sys.executable, "-m", "abaw_bench.harness", "run", "--system", system, "--task", task, "--out",
               str(out), "--quiet"]
    log = out.with_suffix(".log")
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, env={**os.environ, "ABAW_BENCH_CACHE": str(cache)},
                                   stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if process.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{log.read_text(errors='replace')[-2000:]}")
    return seconds, usage.ru_maxrss / 1024  # KiB on Linux


@pytest.fixture(scope="module")
def figures() -> Iterator[list[tuple[str, float, float, float]]]:
    found: list[tuple[str, float, float, float]] = []
    yield found
    print()
    print(f"{'default demo run':<28} {'cold s':>8} {'cached s':>9} {'peak RSS MiB':>13}")
    for name, cold, cached, peak in found:
        flag = "" if cold <= TARGET_SECONDS else f"   over the {TARGET_SECONDS:.0f} s target"
        print(f"{name:<28} {cold:>8.1f} {cached:>9.1f} {peak:>13.0f}{flag}")


@pytest.mark.parametrize(("system", "task"), DEFAULT_RUNS, ids=[f"{s}-{t}" for s, t in DEFAULT_RUNS])
def test_default_demo_run(benchmark: Any, figures: list[tuple[str, float, float, float]], tmp_path: Path,
                          system: str, task: str) -> None:
    cache = tmp_path / "cache"
    cold, cold_peak = timed_run(system, task, tmp_path / "cold", cache)
    cached, cached_peak = benchmark.pedantic(timed_run, args=(system, task, tmp_path / "cached", cache), rounds=1,
                                             iterations=1)
    figures.append((f"{system} {task}", cold, cached, max(cold_peak, cached_peak)))
