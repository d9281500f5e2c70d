"""The generic validator: runs the checks of `checks.py` in order, driven only by a `SubmissionFormat`.

`validate_file` never raises on file contents: whatever the bytes, it returns a `ValidationReport` (a missing or
unreadable path is a problem too). The parsed `Table` is attached whenever every data row could be parsed, even if
other checks failed, so callers can show what was read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.submission import checks
from abaw_bench.harness.submission.checks import Problem, ProblemLog
from abaw_bench.harness.submission.formats import SubmissionFormat, detect_level, get_format, levels_of
from abaw_bench.harness.tasks.base import Table

UNBOUNDED_MAX_BYTES = 2**31  # read_submission has no reference to size a limit from
_BYTES_PER_NUMBER = 32  # generous width of one written number, for the default size limit


def default_max_bytes(fmt: SubmissionFormat, reference_rows: list[str]) -> int:
    """1 MiB plus 4x a file whose every number is 32 characters wide: no honest submission comes close."""
    longest_id = max((len(row_id) for row_id in reference_rows), default=16)
    widest_row = longest_id + max(len(layout) for layout in fmt.layouts) * (_BYTES_PER_NUMBER + 1) + 2
    return 2**20 + 4 * len(reference_rows) * widest_row


@dataclass
class ValidationReport:
    """The outcome of validating one file: ok when there is no error (warnings do not invalidate)."""

    file: str
    task: str
    level: str
    level_source: str  # "given", "detected" (from the first line), "only" (single-level task) or "default"
    format_title: str
    reference_rows: int | None
    data_rows: int
    problems: list[Problem]
    table: Table | None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        verdict = "VALID" if self.ok else "INVALID"
        level = f", level {self.level} ({self.level_source})" if self.level_source != "only" else ""
        reference = f", {self.reference_rows:,} reference rows" if self.reference_rows is not None else ""
        return (f"{self.file}: {verdict}: {len(self.errors)} error(s), {len(self.warnings)} warning(s) "
                f"[task {self.task}{level}; {self.data_rows:,} data rows read{reference}]")

    def render(self) -> list[str]:
        """One `FILE:LINE: [check] expected …, found …` line per problem, then the count line."""
        return [problem.render(self.file) for problem in self.problems] + [self.summary()]

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "ok": self.ok,
            "task": self.task,
            "level": self.level,
            "level_source": self.level_source,
            "format": self.format_title,
            "reference_rows": self.reference_rows,
            "data_rows": self.data_rows,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [problem.to_json() for problem in self.problems],
        }


def _first_line(data: bytes) -> str:
    text = data[:4096].decode("utf-8", errors="replace").lstrip("\ufeff")
    return next((line for line in text.splitlines() if line.strip()), "")


def resolve_level(task: str, level: str | None, data: bytes) -> tuple[str, str]:
    """(level, how it was chosen): given by the caller, the task's only level, or detected from the first line."""
    levels = levels_of(task)
    if level is not None:
        return get_format(task, level).level, "given"
    if len(levels) == 1:
        return levels[0], "only"
    return detect_level(task, _first_line(data)), "detected"


def validate_bytes(fmt: SubmissionFormat, data: bytes, reference_rows: list[str] | None,
                   max_bytes: int | None = None) -> tuple[list[Problem], Table | None, int]:
    """Run every check on `data`; returns (problems, parsed table or None, number of data rows read).

    With `reference_rows` None (reading without a reference) the id checks against the reference are skipped.
    """
    log = ProblemLog()
    reference = [fmt.canonical_id(row_id) for row_id in reference_rows] if reference_rows is not None else None
    if max_bytes is None:
        max_bytes = default_max_bytes(fmt, reference) if reference is not None else UNBOUNDED_MAX_BYTES
    if not checks.check_file_size(len(data), max_bytes, log) or not checks.check_empty(data, log):
        return log.finish(), None, 0
    stripped = checks.check_byte_order_mark(data, log)
    if stripped is None or not checks.check_binary(stripped, log):
        return log.finish(), None, 0
    text = checks.check_utf8(stripped, log)
    if text is None or not checks.check_line_endings(text, log):
        return log.finish(), None, 0

    lines = checks.split_lines(text)
    if not checks.check_has_lines(lines, log):
        return log.finish(), None, 0
    reference_set = set(reference) if reference is not None else None
    start = checks.check_header(fmt, lines, reference_set, log)
    rows = checks.check_column_count(fmt, lines, start, log)
    values, all_parsed = checks.check_value_type(rows, log)
    checks.check_finite(rows, values, log)
    checks.check_range(rows, values, log)
    checks.check_probability_sum(rows, values, log)
    checks.check_pred_matches_argmax(rows, values, log)

    checks.check_id_format(fmt, rows, log)
    ids = [fmt.canonical_id(raw) for raw in rows.ids]
    checks.check_ids_duplicated(fmt, rows, ids, log)
    if reference is not None and reference_set is not None:
        checks.check_ids_missing(fmt, ids, reference, log)
        checks.check_ids_extra(fmt, rows, ids, reference_set, log)
        if fmt.ordered:
            checks.check_row_order(rows, ids, reference, log)

    table = None
    if rows.complete and all_parsed:
        table = Table(ids, values, tuple(column.name for column in rows.layout))
    return log.finish(), table, len(rows.ids)


def validate_file(task: str, path: str | os.PathLike[str], reference_rows: list[str], level: str | None = None,
                  max_bytes: int | None = None) -> ValidationReport:
    """Validate a submission file against the row ids it must contain. Never raises on the file's contents."""
    path = Path(path)
    levels_of(task)  # an unknown task is the caller's error, not the file's
    log = ProblemLog()
    levels = (level,) if level is not None else levels_of(task)
    limit = max_bytes if max_bytes is not None else max(
        default_max_bytes(get_format(task, each), reference_rows) for each in levels)
    data: bytes | None = None
    try:
        size = path.stat().st_size
        if not path.is_file():
            log.add("file", "a regular file", "a directory" if path.is_dir() else "not a regular file")
        elif checks.check_file_size(size, limit, log):
            data = path.read_bytes()
    except OSError as error:
        log.add("file", "a readable file", error.strerror or str(error))
    if data is None:
        fmt = get_format(task, level)
        source = "given" if level is not None else "only" if len(levels) == 1 else "default"
        return ValidationReport(str(path), task, fmt.level, source, fmt.title, len(reference_rows), 0, log.finish(),
                                None)
    chosen, source = resolve_level(task, level, data)
    fmt = get_format(task, chosen)
    problems, table, data_rows = validate_bytes(fmt, data, reference_rows, max_bytes=limit)
    return ValidationReport(str(path), task, fmt.level, source, fmt.title, len(reference_rows), data_rows,
                            problems, table)


def read_submission(task: str, path: str | os.PathLike[str], level: str | None = None) -> Table:
    """Parse a submission without a reference list; AbawError naming the first problem if it is malformed."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise AbawError(f"{path}: cannot read the submission ({error.strerror or error})") from None
    chosen, _ = resolve_level(task, level, data)
    problems, table, _ = validate_bytes(get_format(task, chosen), data, None)
    errors = [p for p in problems if p.severity == "error"]
    if errors or table is None:
        more = f" (and {len(errors) - 1} more problem(s); run 'abaw-bench validate' for all)" if len(errors) > 1 else ""
        raise AbawError(errors[0].render(str(path)) + more)
    return table
