"""`validate` on hostile input and on the largest legal file: time and peak memory.

Run: pytest benchmarks/bench_validate.py --benchmark-only -s

(a) A 1 MB file of one pathological cell. A BAH frame-level file against a 1,000-frame reference, one row of which
    holds a 1,000,000-character cell: a digit run ending in "x" as the prediction (the number check used to
    backtrack for hours on it), the same digits without the "x" (a valid-looking number: the value-type check used
    to build a rows x 1M x 4-byte array, 3.7 GB), and a million-character id.
(b) The largest legal file. BAH frame level against a reference the size of the BAH public release's test split
    (335,110 frames, 64-character ids): every reference row in order, its prediction written at the 64-character
    cell limit, CRLF line ends, padded with trailing blank lines (legal) to exactly the default size limit (44.9 MB).
    The file is valid.

Time: `validate_file` in this process (pytest-benchmark, wall clock; the reference list is built beforehand), and
wall and CPU time in a fresh subprocess (CPU time is the figure to trust on a busy machine). Memory: that subprocess
builds the reference and validates the file once: its peak resident set (VmHWM: interpreter, numpy and the
reference included) and, on a second run, tracemalloc's peak of the validation alone.
Targets (issue 10): under 2 s and under 200 MB each.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from abaw_bench.harness.submission import default_max_bytes, get_format, validate_file

BAH_TEST_FRAMES = 335_110  # frames in the BAH public release's test split
SMALL_REFERENCE = 1_000
CELL = 1_000_000
FRAME_ID = "p{video:03d}/Visite_1/p{video:03d}_Question_1_20240314_Video.mp4/frame-{frame:05d}.jpg"  # 64 characters
FRAMES_PER_VIDEO = 640  # 335,110 frames of 525 test videos


def frame_ids(count: int) -> list[str]:
    return [FRAME_ID.format(video=i // FRAMES_PER_VIDEO, frame=i % FRAMES_PER_VIDEO) for i in range(count)]


MEMORY_CODE = """
import json, sys, time, tracemalloc
from abaw_bench.harness.submission import validate_file

def peak_rss_mb():  # VmHWM: ru_maxrss would carry over the parent's peak through fork and exec
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))

path, count, frame_id, per_video = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
reference = [frame_id.format(video=i // per_video, frame=i % per_video) for i in range(count)]
before = peak_rss_mb()
wall, cpu = time.perf_counter(), time.process_time()
report = validate_file("bah", path, reference)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
peak = peak_rss_mb()
tracemalloc.start()
validate_file("bah", path, reference)
traced = tracemalloc.get_traced_memory()[1]
print(json.dumps({"ok": report.ok, "checks": sorted({p.check for p in report.problems}), "wall": wall, "cpu": cpu,
                  "rss_before_mb": before, "rss_peak_mb": peak, "traced_peak_mb": traced / 2**20}))
"""


def write_cases(folder: Path) -> dict[str, tuple[Path, int]]:
    """Each case's file and the size of its reference."""
    small = frame_ids(SMALL_REFERENCE)
    rows = [f"{frame},{i % 2}" for i, frame in enumerate(small)]
    cases = {}
    for name, bad_row in (("digit run ending in x", f"{small[500]},{'1' * CELL}x"),
                          ("valid-looking number", f"{small[500]},{'1' * CELL}"),
                          ("million-character id", f"{'p' * CELL},1")):
        path = folder / f"{name.replace(' ', '-')}.txt"
        path.write_text("\n".join([*rows[:500], bad_row, *rows[501:]]) + "\n")
        cases[name] = (path, SMALL_REFERENCE)
    reference = frame_ids(BAH_TEST_FRAMES)
    limit = default_max_bytes(get_format("bah", "frame"), reference)
    cell = "1." + "0" * 62  # 64 characters: the longest legal number
    body = "".join(f"{frame},{cell}\r\n" for frame in reference)
    path = folder / "largest-legal.txt"
    path.write_bytes(body.encode() + b"\n" * (limit - len(body)))
    cases["largest legal file"] = (path, BAH_TEST_FRAMES)
    return cases


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, int]]:
    return write_cases(tmp_path_factory.mktemp("validate"))


@pytest.fixture(scope="module")
def figures() -> Iterator[dict[str, dict[str, Any]]]:
    found: dict[str, dict[str, Any]] = {}
    yield found
    print()
    for name, figure in found.items():
        print(f"{name}: {figure['megabytes']:.1f} MB file, {figure['reference']:,} reference rows: median "
              f"{figure['median']:.3f} s here; in a fresh process {figure['wall']:.3f} s wall, {figure['cpu']:.3f} s "
              f"CPU, peak RSS {figure['rss_peak_mb']:.0f} MB (of which {figure['rss_before_mb']:.0f} MB before "
              f"validating: interpreter, numpy, reference), validation's own traced peak "
              f"{figure['traced_peak_mb']:.1f} MB; {'VALID' if figure['ok'] else ', '.join(figure['checks'])}")


def memory(path: Path, reference: int) -> dict[str, Any]:
    command = [sys.executable, "-c", MEMORY_CODE, str(path), str(reference), FRAME_ID, str(FRAMES_PER_VIDEO)]
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=600).stdout
    return json.loads(output)


@pytest.mark.parametrize("name", ["digit run ending in x", "valid-looking number", "million-character id",
                                  "largest legal file"])
def test_validate(benchmark: Any, cases: dict[str, tuple[Path, int]], figures: dict[str, dict[str, Any]],
                  name: str) -> None:
    path, reference_size = cases[name]
    reference = frame_ids(reference_size)
    report = benchmark.pedantic(validate_file, args=("bah", path, reference), rounds=3, iterations=1)
    assert report.ok == (name == "largest legal file"), report.render()[:3]
    figures[name] = {"median": benchmark.stats.stats.median, "megabytes": path.stat().st_size / 1e6,
                     "reference": reference_size, **memory(path, reference_size)}
