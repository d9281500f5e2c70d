"""The validator's checks, one function per concern, MLPerf-checker style.

Each check records `Problem`s (file line, check name, what was expected, what was found) in a `ProblemLog`. Checks on
raw bytes run first and stop validation when the file cannot be read as text at all; the row checks (`rows.py`) then
report every independent problem in one pass.

Hostile input is bounded here: a number cell longer than `MAX_NUMBER_CHARS` or an id longer than `MAX_ID_CHARS` is
reported without being parsed, the number pattern is linear in the cell, and a message quotes at most a short,
escaped prefix of any user value (`show`). Lines are decoded a batch at a time (`line_batches`), never as one list.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from abaw_bench.harness.tasks.spec import PROBABILITY_TOLERANCE, Column, SubmissionFormat

EXAMPLES_SHOWN = 5  # ids quoted in a message about many ids (missing, extra, duplicated)
ROWS_SHOWN = 3  # lines quoted in the one record of a problem that occurs on many lines
MAX_NUMBER_CHARS = 64  # Python's repr of a float needs at most 24 characters, "%.30f" 33: 64 is no honest number
MAX_ID_CHARS = 4096  # PATH_MAX on Linux: the longest path a row id (a file path for BAH and Aff-Wild2) can be
SHOWN_CHARS = 60  # characters of a user value quoted in a message
SHOWN_ID_CHARS = 120  # ids are quoted longer: BAH frame ids differ only in their last characters
MAX_FIELDS = 1024  # a line of more fields than this (formats have at most 7) is counted, never split
BATCH_BYTES = 1 << 18  # lines are decoded and split about this many bytes at a time (a line is never cut)


@dataclass(frozen=True)
class Problem:
    """One finding. `line` is 1-based (None for whole-file findings); severity is "error" or "warning". `count` is
    how many lines have it: a problem of one kind on many lines is one record, its first lines quoted in `found`."""

    check: str
    expected: str
    found: str
    line: int | None = None
    severity: str = "error"
    count: int = 1

    def render(self, file: str) -> str:
        where = f"{file}:{self.line}:" if self.line is not None else f"{file}:"
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where} {prefix}[{self.check}] expected {self.expected}, found {self.found}"

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "severity": self.severity, "line": self.line, "count": self.count,
                "expected": self.expected, "found": self.found}


@dataclass
class _Group:
    """The occurrences of one kind of problem: the first few, and how many there were."""

    shown: list[Problem]
    count: int = 1


@dataclass
class ProblemLog:
    """Collects problems, one record per kind (the same check and the same expectation): its count and its first
    `ROWS_SHOWN` lines, so that a mistake repeated on 4,000 rows is one line of the report, not 4,000.

    `finish` lists them in the order each kind first occurred."""

    _groups: dict[tuple[str, str, str], _Group] = field(default_factory=dict)

    def add(self, check: str, expected: str, found: str, line: int | None = None, severity: str = "error") -> None:
        self.add_run(check, expected, found, line, 1, severity)

    def add_run(self, check: str, expected: str, found: str, first_line: int | None, count: int,
                severity: str = "error") -> None:
        """The same problem on `count` consecutive lines from `first_line` (e.g. a run of blank lines)."""
        key = (check, expected, severity)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group([], 0)
        for offset in range(min(count, ROWS_SHOWN - len(group.shown))):
            line = None if first_line is None else first_line + offset
            group.shown.append(Problem(check, expected, found, line, severity))
        group.count += count

    def finish(self) -> list[Problem]:
        """One problem per kind: the problem itself when it occurred once, else a summary of its occurrences."""
        problems: list[Problem] = []
        for group in self._groups.values():
            first = group.shown[0]
            if group.count == 1:
                problems.append(first)
                continue
            quoted = "; ".join(f"line {p.line}: {p.found}" if p.line is not None else p.found for p in group.shown)
            more = "; …" if group.count > len(group.shown) else ""
            problems.append(Problem(first.check, first.expected,
                                    f"{group.count:,} lines with this problem, the first: {quoted}{more}",
                                    first.line, first.severity, group.count))
        return problems


def show(text: str, limit: int = SHOWN_CHARS) -> str:
    """A user value as it appears in a message: quoted, control characters escaped, cut after `limit` characters
    (saying how long it was)."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"


def show_id(text: str) -> str:
    return show(text, SHOWN_ID_CHARS)


def printable(text: str) -> str:
    """A path or name for a message line: unchanged when printable, else with its control characters escaped."""
    return text if text.isprintable() else repr(text)[1:-1]


def examples(items: Sequence[str], total: int) -> str:
    shown = ", ".join(items[:EXAMPLES_SHOWN])
    return shown + (", …" if total > EXAMPLES_SHOWN else "")


def line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


# ---------------------------------------------------------------------------------------------------- raw bytes


def check_file_size(size: int, max_bytes: int, log: ProblemLog, what: str = "") -> bool:
    """An enormous file is refused before it is read (a wrong file, or a runaway writer)."""
    if size > max_bytes:
        log.add("file-size", f"at most {max_bytes:,} bytes{what} (raise the limit with --max-bytes)", f"{size:,} bytes")
        return False
    return True


_NOT_ASCII_SPACE = re.compile(rb"[^ \t\n\r\x0b\x0c]")


def check_empty(data: bytes, start: int, log: ProblemLog) -> bool:
    if _NOT_ASCII_SPACE.search(data, start) is None:
        log.add("empty", "a header and/or one line per reference row",
                "an empty file" if len(data) == start else "a file of whitespace only")
        return False
    return True


_FOREIGN_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32 LE"),  # before UTF-16 LE: its BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_BE, "UTF-32 BE"),
    (codecs.BOM_UTF16_LE, "UTF-16 LE"),
    (codecs.BOM_UTF16_BE, "UTF-16 BE"),
)


def check_byte_order_mark(data: bytes, log: ProblemLog) -> int | None:
    """The offset where the text starts: a UTF-8 BOM (Excel's habit) is skipped with a warning; a UTF-16/32 BOM is
    an error (re-save as UTF-8), None."""
    for bom, name in _FOREIGN_BOMS:
        if data.startswith(bom):
            log.add("encoding", "UTF-8 text", f"a {name} byte order mark at byte 0 (re-save the file as UTF-8)",
                    line=1)
            return None
    if data.startswith(codecs.BOM_UTF8):
        log.add("encoding", "UTF-8 without a byte order mark",
                "a UTF-8 byte order mark (accepted and ignored)", line=1, severity="warning")
        return len(codecs.BOM_UTF8)
    return 0


def check_binary(data: bytes, start: int, log: ProblemLog) -> bool:
    """NUL bytes never occur in a CSV; they mean a binary file, or UTF-16 text without a BOM."""
    offset = data.find(b"\x00", start)
    if offset < 0:
        return True
    sample = data[start:start + 4096]
    nul_at_odd = sample[1::2].count(0) > len(sample) // 4
    nul_at_even = sample[0::2].count(0) > len(sample) // 4
    hint = " (looks like UTF-16 text: re-save the file as UTF-8)" if nul_at_odd != nul_at_even else ""
    log.add("binary", "text without NUL bytes", f"a NUL byte at byte offset {offset}{hint}",
            line=line_of_offset(data, offset))
    return False


def check_utf8(data: bytes, offset: int, chunk: memoryview, log: ProblemLog) -> str | None:
    """One batch of lines as text; None (and a problem naming the byte offset in the file) if it is not UTF-8."""
    try:
        return str(chunk, "utf-8")
    except UnicodeDecodeError as error:
        start = offset + error.start
        log.add("encoding", "UTF-8 text",
                f"undecodable bytes {data[start:start + 4].hex(' ')} at byte offset {start} ({error.reason})",
                line=line_of_offset(data, start))
        return None


_BARE_CR = re.compile(rb"\r(?!\n)")


def check_line_endings(data: bytes, start: int, log: ProblemLog) -> bool:
    """LF and CRLF are both fine; a bare CR (classic Mac) would glue the whole file into one line."""
    bare_cr = _BARE_CR.search(data, start)
    if bare_cr is None:
        return True
    log.add("line-endings", "LF or CRLF line endings", "a bare CR (carriage return) line break",
            line=line_of_offset(data, bare_cr.start()))
    return False


# ---------------------------------------------------------------------------------------------------- lines


def line_batches(data: bytes, start: int) -> Iterator[tuple[int, int, memoryview]]:
    """The file from `start` in slices of whole lines of about BATCH_BYTES: (first line number, byte offset, bytes).
    A newline byte never occurs inside a multi-byte UTF-8 character, so each slice decodes on its own."""
    view = memoryview(data)
    number, offset, size = 1, start, len(data)
    while offset < size:
        newline = data.find(b"\n", min(offset + BATCH_BYTES, size) - 1)
        end = newline + 1 if newline >= 0 else size
        yield number, offset, view[offset:end]
        number += data.count(b"\n", offset, end)
        offset = end


def split_lines(text: str) -> list[str]:
    """The physical lines of a batch of whole lines, without their terminators (LF or CRLF)."""
    lines = text.split("\n")
    if lines[-1] == "":  # the batch ended with a line terminator
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def split_fields(line: str) -> list[str] | None:
    """Comma-separated fields, stripped; quoted fields (as pandas or Excel may write them) are unquoted. None for a
    line of more than MAX_FIELDS fields, which is not split: a line of a million commas costs no million strings."""
    if line.count(",") >= MAX_FIELDS:
        return None
    fields = line.split(",")
    if '"' in line:
        # a field beyond the csv module's size limit keeps the plain split; the checks then report it
        with contextlib.suppress(csv.Error):
            fields = next(csv.reader([line]))
    return [f.strip() for f in fields]


def count_fields(line: str) -> int:
    """The number of fields (for a line of more than MAX_FIELDS, of comma-separated parts, quoted or not)."""
    fields = split_fields(line)
    return len(fields) if fields is not None else line.count(",") + 1


_NUMBER = re.compile(r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)",
                     re.IGNORECASE)  # no two ways to match a digit run: linear in the cell, however long


def is_number(text: str) -> bool:
    """A plain ASCII decimal number, or a spelling of NaN/infinity (which check_cell then reports); no longer than
    MAX_NUMBER_CHARS. Python's float() would also take '1_0' or Arabic-Indic digits, which organisers' readers
    reject."""
    return len(text) <= MAX_NUMBER_CHARS and _NUMBER.fullmatch(text) is not None


# ---------------------------------------------------------------------------------------------------- whole file

LAYOUT_SAMPLE_LINES = 50  # non-blank lines from the top that show how a file was written
_INDEX_HEADER_FIELDS = ("", "Unnamed: 0")  # what pandas writes (or reads back) as the index column's name
_OTHER_DELIMITERS = (("\t", "tab"), (";", "semicolon"))


def _widths(fmt: SubmissionFormat) -> set[int]:
    """The field counts a data line of the format may have."""
    return {len(layout) + 1 for layout in fmt.layouts}


def _index_column(fmt: SubmissionFormat, lines: list[str]) -> int | None:
    """The line that shows a pandas index column (`to_csv` without index=False), or None: an unnamed first header
    field before the format's header, or most data lines led by a row number, one field too many, then an id."""
    fields = [split_fields(line) or [] for line in lines]
    if fmt.header is not None:
        if fields[0][:1] and fields[0][0] in _INDEX_HEADER_FIELDS and tuple(fields[0][1:]) == fmt.header:
            return 1
        fields = fields[1:]

    def numbered(row: list[str]) -> bool:
        return (len(row) - 1 in _widths(fmt) and row[0].isascii() and row[0].isdigit()
                and (fmt.id_pattern.fullmatch(row[1]) is not None if fmt.id_pattern else not is_number(row[1])))

    led = [number for number, row in enumerate(fields, start=1 + (fmt.header is not None)) if numbered(row)]
    return led[0] if fields and len(led) * 2 > len(fields) else None


def _other_delimiter(fmt: SubmissionFormat, lines: list[str]) -> str | None:
    """The delimiter the file uses instead of commas (a tab, or Excel's semicolon with decimal commas), when most
    of the sampled lines split into a legal field count on it and not on commas."""
    widths = _widths(fmt) | ({len(fmt.header)} if fmt.header is not None else set())
    comma_fine = sum(count_fields(line) in widths for line in lines)
    for delimiter, name in _OTHER_DELIMITERS:
        splits = sum(line.count(delimiter) + 1 in widths for line in lines if delimiter in line)
        if splits * 2 > len(lines) and splits > comma_fine:
            decimal_commas = " (with decimal commas)" if delimiter == ";" and "," in "".join(lines) else ""
            return f"{name}-separated fields{decimal_commas} on {splits} of the first {len(lines)} lines"
    return None


def check_file_layout(fmt: SubmissionFormat, text: str, log: ProblemLog) -> bool:
    """How the file as a whole was written, from its first lines: a pandas index column or another delimiter would
    otherwise be reported as a header problem plus one problem per row. One problem naming the fix instead, and
    False (the rows are not checked: every one of them has the same cause)."""
    lines = [line for line in split_lines(text) if line.strip()][:LAYOUT_SAMPLE_LINES]
    if not lines:
        return True
    index_line = _index_column(fmt, lines)
    if index_line is not None:
        log.add("index-column", f"the row id ({fmt.id_name}) as the first field of every line",
                f"a pandas index column before it ({show(lines[index_line - 1])}): the file was written with the "
                "index; use `to_csv(..., index=False)`, or abaw_bench.write_submission", line=index_line)
        return False
    delimiter = _other_delimiter(fmt, lines)
    if delimiter is not None:
        log.add("delimiter", f"comma-separated fields ({fmt.describe_layouts()})",
                f"{delimiter}: write the file with commas (`to_csv(path, index=False)` uses them by default, and "
                "no decimal commas), or with abaw_bench.write_submission")
        return False
    return True


# ---------------------------------------------------------------------------------------------------- values


def check_cell(column: Column, cell: str, line: int, log: ProblemLog) -> float | None:
    """The cell's value (NaN, infinite or out of range ones are reported and returned), or None when it is not a
    number of the column's kind at all (reported)."""
    if not is_number(cell):
        limit = f" of at most {MAX_NUMBER_CHARS} characters" if len(cell) > MAX_NUMBER_CHARS else ""
        log.add("value-type", f"{column.name} as {column.describe()}{limit}", show(cell), line=line)
        return None
    value = float(cell)
    if not math.isfinite(value):
        log.add("nan-inf", f"{column.name} as a finite number", show(cell), line=line)
    elif column.integer and not value.is_integer():
        log.add("value-type", f"{column.name} as {column.describe()}", show(cell), line=line)
        return None
    elif not column.low <= value <= column.high:
        log.add("range", f"{column.name} in [{column.low:g}, {column.high:g}]", show(cell), line=line)
    return value


def check_probability_sum(p0: float, p1: float, cells: tuple[str, str], line: int, log: ProblemLog) -> None:
    """BAH video level: p0 + p1 = 1 within a tolerance (an error beyond it). Within it but not exactly 1 is a
    warning: the organisers' validator compares the float sum with == and rejects such a row."""
    total = p0 + p1
    if not math.isfinite(total) or total == 1.0:
        return
    if abs(total - 1.0) > PROBABILITY_TOLERANCE:
        log.add("probability-sum", f"p0 + p1 = 1 within {PROBABILITY_TOLERANCE:g}",
                f"{total!r} ({cells[0]} + {cells[1]})", line=line)
    else:
        log.add("probability-sum", "p0 + p1 == 1 exactly, as the organisers' validator compares it (accepted here "
                "within the tolerance; write p0 = 1 - p1, as abaw_bench.write_submission does)",
                f"{total!r} ({cells[0]} + {cells[1]})", line=line, severity="warning")


def check_pred_matches_argmax(p0: float, p1: float, pred: float, pred_cell: str, line: int, log: ProblemLog) -> None:
    """A warning only: a tuned decision threshold legitimately makes pred differ from argmax; pred is scored."""
    if p0 != p1 and math.isfinite(pred) and pred != (p1 > p0):
        log.add("pred-argmax", f"pred = argmax(p0, p1) = {int(p1 > p0)}",
                f"pred {pred_cell} (fine if you tuned the decision threshold)", line=line, severity="warning")
