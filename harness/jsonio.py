"""The one JSON reader for files and values a user hands the harness (results.json, config.json, train_log.jsonl,
transcripts, --hyper values, tables): bounded in size, nesting depth and integer digits, and refusing numbers that are
not finite.

Python's `json` reads anything: a 4,300-digit integer raises a ValueError from int() deep inside the parser, nesting a
few thousand brackets deep a RecursionError, `1e400` becomes inf and `NaN`/`Infinity` are accepted as literals, so a
hostile or damaged file used to end in a traceback or in a silently infinite metric. Here each of those is `BadJson`,
a message that says what was found; callers put the file (and line) in front. Reading is linear in the input: the
size is checked before a file is read, a .jsonl file is read one line at a time, and the depth is measured after
parsing with an explicit stack.

Standard library (and `harness.files`, which checks and opens the file) only, so that torch-free commands
(`validate`, `score`, `leaderboard`) can use it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from typing import Any

from abaw_bench.harness.files import REGULAR_FILE, FileTooLarge, UnreadableFile, open_regular, read_regular_file

MAX_DEPTH = 64  # nesting of arrays and objects; the harness's own files nest 5 deep
MAX_INT_DIGITS = 64  # digits of one integer (a 64-bit count has 20)
MAX_FILE_BYTES = 64 << 20  # a results.json or config.json is a few kB, a transcript a few hundred
MAX_LINE_BYTES = 1 << 20  # one train_log.jsonl line is a few hundred bytes


class BadJson(ValueError):
    """Text that is not JSON within the bounds above: `reason` says what was found, `where` (the file, and line for
    .jsonl) is empty for a value that came from no file."""

    def __init__(self, reason: str, where: str = "") -> None:
        super().__init__(f"{where}: {reason}" if where else reason)
        self.reason, self.where = reason, where


class NotJson(BadJson):
    """Text that is not JSON at all (a syntax error), as against JSON outside the bounds."""


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise BadJson(f"an integer of {len(text.lstrip('-')):,} digits (at most {MAX_INT_DIGITS} are read)")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadJson(f"the number {text[:40]} is out of range (it would be {value})")
    return value


def _refuse_constant(text: str) -> float:
    raise BadJson(f"{text} is not a JSON number (expected a finite number)")


def _depth(value: Any) -> int:
    """The nesting depth of a parsed value (0 for a scalar), iteratively: a deep value cannot overflow the stack."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_DEPTH:
                break
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def loads(text: str | bytes, *, allow_nonfinite: bool = False) -> Any:
    """The JSON value in `text`. `allow_nonfinite`: accept the NaN/Infinity literals (for a format that writes them);
    a number that overflows to inf (1e400) is refused all the same."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BadJson(f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    try:
        value = json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                           parse_constant=float if allow_nonfinite else _refuse_constant)
    except json.JSONDecodeError as error:
        raise NotJson(f"line {error.lineno}, column {error.colno}: invalid JSON: {error.msg}") from None
    except RecursionError:
        raise BadJson(f"nested deeper than {MAX_DEPTH} levels") from None
    if _depth(value) > MAX_DEPTH:
        raise BadJson(f"nested deeper than {MAX_DEPTH} levels")
    return value


def _bad_file(error: UnreadableFile | FileTooLarge, where: str, max_bytes: int | None) -> BadJson:
    if isinstance(error, FileTooLarge):
        return BadJson(f"{error.size:,} bytes, more than the {max_bytes:,} read as JSON", where)
    if error.expected == REGULAR_FILE:
        return BadJson(f"expected a regular JSON file, found {error.found}", where)
    return BadJson(f"cannot read ({error.found})", where)


def read_json(path: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES, allow_nonfinite: bool = False) -> Any:
    """The JSON value in the file `path`; BadJson naming the file when it is not a regular file (a FIFO would block:
    checked before opening), larger than `max_bytes` (checked before reading), unreadable or not bounded JSON."""
    where = os.fsdecode(path)
    try:
        data = read_regular_file(path, max_bytes)
    except (UnreadableFile, FileTooLarge) as error:
        raise _bad_file(error, where, max_bytes) from None
    try:
        return loads(data, allow_nonfinite=allow_nonfinite)
    except BadJson as error:
        raise BadJson(error.reason, where) from None


def iter_jsonl(path: str | os.PathLike[str], *, allow_nonfinite: bool = False) -> Iterator[Any]:
    """The values of a JSON-lines file, one line at a time (blank lines skipped); BadJson naming the file and line."""
    where = os.fsdecode(path)
    try:
        with open_regular(path, None) as handle:
            for number, line in enumerate(iter(lambda: handle.readline(MAX_LINE_BYTES + 1), b""), start=1):
                if len(line) > MAX_LINE_BYTES:
                    raise BadJson(f"a line longer than {MAX_LINE_BYTES:,} bytes", f"{where}:{number}")
                if not line.strip():
                    continue
                try:
                    yield loads(line, allow_nonfinite=allow_nonfinite)
                except BadJson as error:
                    raise BadJson(error.reason, f"{where}:{number}") from None
    except UnreadableFile as error:
        raise _bad_file(error, where, None) from None
    except OSError as error:
        raise BadJson(f"cannot read ({error.strerror or error})", where) from None
