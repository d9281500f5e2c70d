"""Progress of long loops: a tqdm bar on a terminal, plain lines in a log.

`abaw-bench run ... > log 2>&1` would otherwise fill the log with hundreds of carriage-return bar updates per epoch.
When the stream is not a terminal, `progress` writes one line when the loop finishes (unless `leave=False`: the
caller prints its own summary, e.g. the engine's epoch line) and, for long loops, one line every `every_seconds`
(and every `every_items` units when given), with the time left at the current rate when the total is known. Lines
end in "\\n" and never contain "\\r".

    with progress(len(items), "convert provided:vit") as bar:
        for item in items:
            ...
            bar.update()
    for batch in progress(len(loader), "epoch 3/30", leave=False).wrap(loader): ...
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TextIO, TypeVar

T = TypeVar("T")

DEFAULT_EVERY_SECONDS = 10.0


def is_terminal(stream: TextIO) -> bool:
    """True when `stream` is an interactive terminal (a closed or fd-less stream counts as not one)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class Progress:
    """What every reporter offers: `update`, `set_postfix`, `close`, use as a context manager, `wrap` an iterable.

    This base class reports nothing (progress disabled).
    """

    def update(self, n: int = 1) -> None:
        """`n` more units are finished."""

    def set_postfix(self, values: Mapping[str, Any] | None = None, **more: Any) -> None:
        """Key/value figures shown with the count (e.g. loss), replacing the previous ones."""

    def close(self) -> None:
        """The loop is over (idempotent)."""

    def wrap(self, iterable: Iterable[T]) -> Iterator[T]:
        """Yield from `iterable`, counting one unit per element; closes at the end."""
        try:
            for element in iterable:
                yield element
                self.update()
        finally:
            self.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Bar(Progress):
    """tqdm on a terminal."""

    def __init__(self, total: int | None, desc: str, unit: str, leave: bool, stream: TextIO) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=desc, unit=unit, leave=leave, file=stream, dynamic_ncols=True)

    def update(self, n: int = 1) -> None:
        self._bar.update(n)

    def set_postfix(self, values: Mapping[str, Any] | None = None, **more: Any) -> None:
        self._bar.set_postfix({**(values or {}), **more}, refresh=False)

    def close(self) -> None:
        self._bar.close()


class _Lines(Progress):
    """Plain lines for logs: `desc: 120/800 batches (15.2 batches/s, 7.9 s, ETA 0:00:45) loss=0.0412`."""

    def __init__(self, total: int | None, desc: str, unit: str, leave: bool, stream: TextIO,
                 every_seconds: float | None, every_items: int | None) -> None:
        self.total, self.desc, self.unit, self.leave, self.stream = total, desc, unit, leave, stream
        self.every_seconds, self.every_items = every_seconds, every_items
        self.count = 0
        self.postfix: dict[str, Any] = {}
        self.started = self._last_line = time.monotonic()
        self._last_count = 0
        self._closed = False

    def update(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        due_by_time = self.every_seconds is not None and now - self._last_line >= self.every_seconds
        due_by_count = self.every_items is not None and self.count - self._last_count >= self.every_items
        finished = self.total is not None and self.count >= self.total
        if (due_by_time or due_by_count) and not finished:  # the last unit is reported by close()
            self._write(now, final=False)

    def set_postfix(self, values: Mapping[str, Any] | None = None, **more: Any) -> None:
        self.postfix = {**(values or {}), **more}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.leave:
            self._write(time.monotonic(), final=True)

    def _write(self, now: float, *, final: bool) -> None:
        elapsed = now - self.started
        units = plural(self.unit)
        count = f"{self.count}/{self.total}" if self.total is not None else f"{self.count}"
        rate = f"{self.count / elapsed:.1f} {units}/s, " if elapsed > 0 and self.count else ""
        eta = ""
        if not final and self.total is not None and self.count and elapsed > 0:
            eta = f", ETA {clock_time(max(self.total - self.count, 0) * elapsed / self.count)}"
        line = f"{self.desc}: {'done, ' if final else ''}{count} {units} ({rate}{elapsed:.1f} s{eta})"
        if self.postfix:
            line += " " + " ".join(f"{key}={value}" for key, value in self.postfix.items())
        print(line.replace("\r", " "), file=self.stream, flush=True)
        self._last_line, self._last_count = now, self.count


def plural(unit: str) -> str:
    """`batch` -> `batches`, `item` -> `items`: the unit as the count line names it."""
    return f"{unit}es" if unit.endswith(("s", "x", "ch", "sh")) else f"{unit}s"


def clock_time(seconds: float) -> str:
    """Seconds as h:mm:ss, the form tqdm shows its estimate in."""
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def progress(total: int | None, desc: str, *, unit: str = "item", enabled: bool = True, leave: bool = True,
             stream: TextIO | None = None, every_seconds: float | None = DEFAULT_EVERY_SECONDS,
             every_items: int | None = None) -> Progress:
    """A reporter for a loop of `total` units (None: unknown) on `stream` (default: the current sys.stderr).

    A tqdm bar when the stream is a terminal; otherwise plain lines (see the module docstring). `enabled=False`
    (e.g. --quiet, or a rank other than 0) reports nothing.
    """
    stream = sys.stderr if stream is None else stream
    if not enabled:
        return Progress()
    if is_terminal(stream):
        return _Bar(total, desc, unit, leave, stream)
    return _Lines(total, desc, unit, leave, stream, every_seconds, every_items)
