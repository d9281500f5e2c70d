"""The validator's checks, one function per concern, MLPerf-checker style.

Each check records `Problem`s (file line, check name, what was expected, what was found) in a `ProblemLog` and
returns what the next stage needs. Checks on raw bytes run first and stop validation when the file cannot be read
as text at all; every later check runs on whatever could be parsed, so one pass reports every independent problem.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from abaw_bench.harness.submission.formats import BAH_PROBABILITY_TOLERANCE, Column, SubmissionFormat

EXAMPLES_SHOWN = 5  # per check: individual lines reported before the rest is summarised as a count


@dataclass(frozen=True)
class Problem:
    """One finding. `line` is 1-based (None for whole-file findings); severity is "error" or "warning"."""

    check: str
    expected: str
    found: str
    line: int | None = None
    severity: str = "error"

    def render(self, file: str) -> str:
        where = f"{file}:{self.line}:" if self.line is not None else f"{file}:"
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where} {prefix}[{self.check}] expected {self.expected}, found {self.found}"

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "severity": self.severity, "line": self.line,
                "expected": self.expected, "found": self.found}


@dataclass
class ProblemLog:
    """Collects problems, keeping the first few per check and counting the rest (no 4,000-line reports)."""

    problems: list[Problem] = field(default_factory=list)
    _shown: Counter[str] = field(default_factory=Counter)
    _hidden: dict[str, tuple[int, int | None, str, str]] = field(default_factory=dict)

    def add(self, check: str, expected: str, found: str, line: int | None = None, severity: str = "error") -> None:
        if self._shown[check] < EXAMPLES_SHOWN:
            self._shown[check] += 1
            self.problems.append(Problem(check, expected, found, line, severity))
            return
        count, first_line, _, _ = self._hidden.get(check, (0, line, expected, severity))
        self._hidden[check] = (count + 1, first_line, expected, severity)

    def finish(self) -> list[Problem]:
        """The problems, with one summary record per check whose further occurrences were not listed."""
        summaries = [
            Problem(check, expected, f"{count:,} more line(s) with this problem, the next at line {first_line}",
                    None, severity)
            for check, (count, first_line, expected, severity) in self._hidden.items()
        ]
        self._hidden.clear()
        self.problems.extend(summaries)
        return self.problems

    def count(self, check: str) -> int:
        return self._shown[check] + self._hidden.get(check, (0,))[0]


def show(text: str, limit: int = 60) -> str:
    """A line or field as it appears in a message: quoted, control characters escaped, long text cut."""
    return repr(text[:limit] + ("…" if len(text) > limit else ""))


def line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


# ---------------------------------------------------------------------------------------------------- raw bytes


def check_file_size(size: int, max_bytes: int, log: ProblemLog) -> bool:
    """An enormous file is refused before it is read (a wrong file, or a runaway writer)."""
    if size > max_bytes:
        log.add("file-size", f"at most {max_bytes:,} bytes (raise the limit with --max-bytes)", f"{size:,} bytes")
        return False
    return True


def check_empty(data: bytes, log: ProblemLog) -> bool:
    if not data.strip():
        log.add("empty", "a header and/or one line per reference row",
                "an empty file" if not data else "a file of whitespace only")
        return False
    return True


_FOREIGN_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32 LE"),  # before UTF-16 LE: its BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_BE, "UTF-32 BE"),
    (codecs.BOM_UTF16_LE, "UTF-16 LE"),
    (codecs.BOM_UTF16_BE, "UTF-16 BE"),
)


def check_byte_order_mark(data: bytes, log: ProblemLog) -> bytes | None:
    """A UTF-16/32 BOM is an error (re-save as UTF-8); a UTF-8 BOM (Excel's habit) is stripped with a warning."""
    for bom, name in _FOREIGN_BOMS:
        if data.startswith(bom):
            log.add("encoding", "UTF-8 text", f"a {name} byte order mark at byte 0 (re-save the file as UTF-8)",
                    line=1)
            return None
    if data.startswith(codecs.BOM_UTF8):
        log.add("encoding", "UTF-8 without a byte order mark",
                "a UTF-8 byte order mark (accepted and ignored)", line=1, severity="warning")
        return data[len(codecs.BOM_UTF8):]
    return data


def check_binary(data: bytes, log: ProblemLog) -> bool:
    """NUL bytes never occur in a CSV; they mean a binary file, or UTF-16 text without a BOM."""
    offset = data.find(b"\x00")
    if offset < 0:
        return True
    sample = data[:4096]
    nul_at_odd = sample[1::2].count(0) > len(sample) // 4
    nul_at_even = sample[0::2].count(0) > len(sample) // 4
    hint = " (looks like UTF-16 text: re-save the file as UTF-8)" if nul_at_odd != nul_at_even else ""
    log.add("binary", "text without NUL bytes", f"a NUL byte at byte offset {offset}{hint}",
            line=line_of_offset(data, offset))
    return False


def check_utf8(data: bytes, log: ProblemLog) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = data[error.start:error.start + 4]
        log.add("encoding", "UTF-8 text",
                f"undecodable bytes {bad.hex(' ')} at byte offset {error.start} ({error.reason})",
                line=line_of_offset(data, error.start))
        return None


_BARE_CR = re.compile(r"\r(?!\n)")


def check_line_endings(text: str, log: ProblemLog) -> bool:
    """LF and CRLF are both fine; a bare CR (classic Mac) would glue the whole file into one line."""
    bare_cr = _BARE_CR.search(text)
    if bare_cr is None:
        return True
    line = text.count("\n", 0, bare_cr.start()) + 1
    log.add("line-endings", "LF or CRLF line endings", "a bare CR (carriage return) line break", line=line)
    return False


def split_lines(text: str) -> list[str]:
    """Physical lines without their terminators; trailing blank lines (and a missing final newline) are fine."""
    lines = text.split("\n")
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def check_has_lines(lines: list[str], log: ProblemLog) -> bool:
    """Text that is blank once decoded (e.g. only Unicode separators, which bytes.strip keeps) is empty too."""
    if not lines:
        log.add("empty", "a header and/or one line per reference row", "only whitespace characters")
        return False
    return True


def split_fields(line: str) -> list[str]:
    """Comma-separated fields, stripped; quoted fields (as pandas or Excel may write them) are unquoted."""
    fields = line.split(",")
    if '"' in line:
        # a field beyond the csv module's size limit keeps the plain split; the checks then report it
        with contextlib.suppress(csv.Error):
            fields = next(csv.reader([line]))
    return [f.strip() for f in fields]


_NUMBER = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)", re.IGNORECASE)


def is_number(text: str) -> bool:
    """A plain ASCII decimal number, or a spelling of NaN/infinity (which check_finite then reports)."""
    return _NUMBER.fullmatch(text) is not None


# ---------------------------------------------------------------------------------------------------- structure


def check_header(fmt: SubmissionFormat, lines: list[str], reference: set[str] | None, log: ProblemLog) -> int:
    """Returns the index of the first data line. A missing header does not swallow the first data row."""
    first = split_fields(lines[0])
    looks_like_data = bool(first) and (
        (reference is not None and fmt.canonical_id(first[0]) in reference)
        or (len(first) > 1 and all(is_number(f) for f in first[1:]))
    )
    if fmt.header is None:
        if looks_like_data or not first[0]:
            return 0
        log.add("header", f"no header line (the format is headerless: {fmt.describe_layouts()})",
                show(lines[0]), line=1)
        return 1
    if tuple(first) == fmt.header:
        return 1
    expected = show(",".join(fmt.header), limit=200)
    if looks_like_data and first[0].lower() != fmt.id_name.lower():
        log.add("header", f"the header {expected}", f"a data row {show(lines[0])} (the header is missing)", line=1)
        return 0
    log.add("header", f"the header {expected}", show(lines[0], limit=200), line=1)
    return 1


@dataclass
class ParsedRows:
    """Data rows that have the right number of fields: line numbers, raw ids, value strings by column."""

    layout: tuple[Column, ...]
    lines: list[int]
    ids: list[str]
    cells: list[list[str]]  # one list per column
    complete: bool  # every data line had the right number of fields


def check_column_count(fmt: SubmissionFormat, lines: list[str], start: int, log: ProblemLog) -> ParsedRows:
    """Every data line has the id plus one field per value column; a multi-layout format keeps line 1's layout."""
    layout = fmt.default_layout
    for line in lines[start:]:
        if line.strip():
            layout = fmt.layout_for_width(len(split_fields(line)) - 1) or layout
            break
    width = len(layout) + 1
    names = ",".join((fmt.id_name, *(c.name for c in layout)))
    expected = f"{width} fields ({names})"
    if len(fmt.layouts) > 1:
        expected += f" as on the first data line; accepted layouts: {fmt.describe_layouts()}"
    rows = ParsedRows(layout, [], [], [[] for _ in layout], complete=True)
    for number, line in enumerate(lines[start:], start=start + 1):
        fields = split_fields(line)
        if len(fields) != width:
            found = "an empty line" if not line.strip() else f"{len(fields)} fields in {show(line)}"
            log.add("column-count", expected, found, line=number)
            rows.complete = False
            continue
        rows.lines.append(number)
        rows.ids.append(fields[0])
        for column, value in zip(rows.cells, fields[1:], strict=True):
            column.append(value)
    return rows


# ---------------------------------------------------------------------------------------------------- values


def check_value_type(rows: ParsedRows, log: ProblemLog) -> tuple[np.ndarray, bool]:
    """Parse every cell as a plain ASCII decimal number (whole for integer columns; Python's float() would also take
    '1_0' or Arabic-Indic digits, which organisers' CSV readers reject). Returns (values, all cells parsed)."""
    values = np.full((len(rows.ids), len(rows.layout)), np.nan)
    all_parsed = True
    for j, (column, cells) in enumerate(zip(rows.layout, rows.cells, strict=True)):
        bad = {i for i, cell in enumerate(cells) if not is_number(cell)}
        for i in sorted(bad):
            log.add("value-type", f"{column.name} as {column.describe()}", show(cells[i]), line=rows.lines[i])
        clean = [("nan" if i in bad else cell) for i, cell in enumerate(cells)] if bad else cells
        if clean:
            values[:, j] = np.asarray(clean, dtype=str).astype(np.float64)
        all_parsed = all_parsed and not bad
        if column.integer:
            column_values = values[:, j]
            fractional = np.isfinite(column_values) & (column_values != np.round(column_values))
            for i in np.flatnonzero(fractional):
                all_parsed = False
                log.add("value-type", f"{column.name} as {column.describe()}", show(cells[i]), line=rows.lines[i])
    return values, all_parsed


def check_finite(rows: ParsedRows, values: np.ndarray, log: ProblemLog) -> None:
    for i, j in zip(*np.nonzero(np.isnan(values) | np.isinf(values)), strict=True):
        cell = rows.cells[j][i]
        if is_number(cell):  # unparseable cells were reported by check_value_type
            log.add("nan-inf", f"{rows.layout[j].name} as a finite number", show(cell), line=rows.lines[i])


def check_range(rows: ParsedRows, values: np.ndarray, log: ProblemLog) -> None:
    for j, column in enumerate(rows.layout):
        column_values = values[:, j]
        with np.errstate(invalid="ignore"):
            outside = np.isfinite(column_values) & ((column_values < column.low) | (column_values > column.high))
        for i in np.flatnonzero(outside):
            log.add("range", f"{column.name} in [{column.low:g}, {column.high:g}]", show(rows.cells[j][i]),
                    line=rows.lines[i])


def check_probability_sum(rows: ParsedRows, values: np.ndarray, log: ProblemLog) -> None:
    """BAH video level: p0 + p1 = 1 within a tolerance (the official validator compared floats with ==)."""
    names = [c.name for c in rows.layout]
    if "p0" not in names or "p1" not in names:
        return
    p0, p1 = names.index("p0"), names.index("p1")
    total = values[:, p0] + values[:, p1]
    with np.errstate(invalid="ignore"):
        bad = np.isfinite(total) & (np.abs(total - 1.0) > BAH_PROBABILITY_TOLERANCE)
    for i in np.flatnonzero(bad):
        log.add("probability-sum", f"p0 + p1 = 1 within {BAH_PROBABILITY_TOLERANCE:g}",
                f"{float(total[i])!r} ({rows.cells[p0][i]} + {rows.cells[p1][i]})", line=rows.lines[i])


def check_pred_matches_argmax(rows: ParsedRows, values: np.ndarray, log: ProblemLog) -> None:
    """A warning only: a tuned decision threshold legitimately makes pred differ from argmax; pred is scored."""
    names = [c.name for c in rows.layout]
    if not {"p0", "p1", "pred"} <= set(names):
        return
    p0, p1, pred = (values[:, names.index(n)] for n in ("p0", "p1", "pred"))
    with np.errstate(invalid="ignore"):
        disagree = (p0 != p1) & np.isfinite(pred) & (pred != (p1 > p0))
    for i in np.flatnonzero(disagree):
        log.add("pred-argmax", f"pred = argmax(p0, p1) = {int(p1[i] > p0[i])}",
                f"pred {rows.cells[names.index('pred')][i]} (fine if you tuned the decision threshold)",
                line=rows.lines[i], severity="warning")


# ---------------------------------------------------------------------------------------------------- ids


def check_id_format(fmt: SubmissionFormat, rows: ParsedRows, log: ProblemLog) -> None:
    for line, raw in zip(rows.lines, rows.ids, strict=True):
        if not raw or (fmt.id_pattern is not None and not fmt.id_pattern.fullmatch(raw)):
            log.add("id-format", f"{fmt.id_name} as {fmt.id_rule}", show(raw), line=line)


def _examples(items: Sequence[str]) -> str:
    shown = ", ".join(items[:EXAMPLES_SHOWN])
    return shown + (", …" if len(items) > EXAMPLES_SHOWN else "")


def check_ids_duplicated(fmt: SubmissionFormat, rows: ParsedRows, ids: list[str], log: ProblemLog) -> None:
    first_line: dict[str, int] = {}
    duplicates: dict[str, list[int]] = {}
    for line, row_id in zip(rows.lines, ids, strict=True):
        if row_id in first_line:
            duplicates.setdefault(row_id, [first_line[row_id]]).append(line)
        else:
            first_line[row_id] = line
    if duplicates:
        examples = [f"{row_id!r} at lines {', '.join(map(str, lines[:3]))}" for row_id, lines in duplicates.items()]
        first = min(lines[1] for lines in duplicates.values())
        log.add("ids-duplicated", f"each {fmt.id_name} once",
                f"{len(duplicates):,} id(s) more than once, e.g. {_examples(examples)}", line=first)


def check_ids_missing(fmt: SubmissionFormat, ids: list[str], reference: list[str], log: ProblemLog) -> None:
    present = set(ids)
    missing = [row_id for row_id in reference if row_id not in present]
    if missing:
        log.add("ids-missing", f"all {len(reference):,} reference {fmt.id_name} ids",
                f"{len(missing):,} missing, e.g. {_examples([repr(m) for m in missing])}")


def check_ids_extra(fmt: SubmissionFormat, rows: ParsedRows, ids: list[str], reference: set[str],
                    log: ProblemLog) -> None:
    extra = [(line, raw) for line, raw, row_id in zip(rows.lines, rows.ids, ids, strict=True)
             if row_id not in reference]
    if extra:
        log.add("ids-extra", f"only reference {fmt.id_name} ids",
                f"{len(extra):,} row(s) with unknown ids, e.g. "
                f"{_examples([f'{raw!r} (line {line})' for line, raw in extra])}", line=extra[0][0])


def check_row_order(rows: ParsedRows, ids: list[str], reference: list[str], log: ProblemLog) -> None:
    """Compares the known ids (first occurrences) with the reference order restricted to them, so a missing or
    extra row is not also reported as an order problem."""
    if ids == reference:
        return
    reference_set = set(reference)
    seen: set[str] = set()
    submitted: list[tuple[int, str]] = []
    for line, row_id in zip(rows.lines, ids, strict=True):
        if row_id in reference_set and row_id not in seen:
            seen.add(row_id)
            submitted.append((line, row_id))
    expected_order = [row_id for row_id in reference if row_id in seen]
    misplaced = [(line, row_id, want) for (line, row_id), want in zip(submitted, expected_order, strict=True)
                 if row_id != want]
    if misplaced:
        line, row_id, want = misplaced[0]
        log.add("row-order", f"rows in the reference order: {want!r} here",
                f"{row_id!r} ({len(misplaced):,} of {len(submitted):,} rows out of place)", line=line)
