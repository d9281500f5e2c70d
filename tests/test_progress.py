"""Progress output (harness/progress.py): a tqdm bar on a terminal; in a log, plain lines and no carriage return.
(Extraction's own progress in a log: tests/features/test_pipeline.py.)"""

from __future__ import annotations

import fcntl
import io
import os
import struct
import termios
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.progress import progress


def test_plain_lines_when_the_stream_is_not_a_terminal(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    with log.open("w") as stream, progress(5, "convert", stream=stream, every_seconds=None, every_items=2) as bar:
        for _ in range(5):
            bar.update()
            bar.set_postfix(loss="0.5")
    lines = log.read_text().splitlines()
    assert [line.split(" (")[0] for line in lines] == ["convert: 2/5 items", "convert: 4/5 items",
                                                       "convert: done, 5/5 items"]
    assert all(line.endswith("loss=0.5") for line in lines)
    assert "\r" not in log.read_text()


def test_leave_false_and_disabled_write_nothing_for_a_short_loop() -> None:
    stream = io.StringIO()
    for _ in progress(3, "epoch 1/30", stream=stream, leave=False).wrap(range(3)):
        pass
    with progress(3, "quiet", stream=stream, enabled=False) as bar:
        bar.update(3)
    assert stream.getvalue() == ""


def test_a_long_loop_reports_every_few_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(np.arange(0.0, 100.0, 4.0))  # each call to time.monotonic advances 4 s
    monkeypatch.setattr("abaw_bench.harness.progress.time.monotonic", lambda: float(next(clock)))
    stream = io.StringIO()
    bar = progress(None, "decode", stream=stream, leave=False, every_seconds=10.0)
    for _ in range(6):
        bar.update()
    bar.close()
    assert stream.getvalue().splitlines() == ["decode: 3 items (0.2 items/s, 12.0 s)",
                                              "decode: 6 items (0.2 items/s, 24.0 s)"]


def test_a_plain_line_names_its_unit_and_estimates_the_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(np.arange(0.0, 100.0, 4.0))  # each call to time.monotonic advances 4 s
    monkeypatch.setattr("abaw_bench.harness.progress.time.monotonic", lambda: float(next(clock)))
    stream = io.StringIO()
    with progress(40, "epoch 2/30", unit="batch", stream=stream, every_seconds=10.0) as bar:
        for _ in range(4):
            bar.update()
    # 3 batches in 12 s: 37 left at 4 s each; the closing line has no estimate
    assert stream.getvalue().splitlines() == ["epoch 2/30: 3/40 batches (0.2 batches/s, 12.0 s, ETA 0:02:28)",
                                              "epoch 2/30: done, 4/40 batches (0.2 batches/s, 20.0 s)"]


def read_until_closed(master: int) -> str:
    """All a pseudo-terminal's replica side wrote, once it is closed. One read is not enough: the kernel hands the
    writes to the master side in pieces, so under load a single read may return only the bar's first frame."""
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO (Linux): the replica is closed and everything it wrote has been read
            break
        if not chunk:  # end of file (other systems)
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_a_terminal_gets_the_tqdm_bar() -> None:
    master, replica = os.openpty()
    fcntl.ioctl(replica, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # a window 80 columns wide
    with os.fdopen(replica, "w") as terminal, progress(3, "extract", stream=terminal) as bar:
        bar.update(3)
    output = read_until_closed(master)
    os.close(master)
    # tqdm redraws its line in place ("\r"): first the empty bar, last the finished one, which closing draws whatever
    # the time since the last refresh (so a loaded machine cannot leave it out), then leaves with a newline (the
    # terminal writes "\r\n")
    assert output.endswith("\n")
    frames = output.rstrip("\r\n").split("\r")[1:]
    assert len(frames) >= 2 and all(frame.startswith("extract:") for frame in frames)
    assert "0/3" in frames[0] and "3/3" in frames[-1] and "100%" in frames[-1]
