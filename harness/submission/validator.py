"""The generic validator: reads a file once and runs the checks of `checks.py` and `rows.py`, driven only by a
`SubmissionFormat`.

`validate_file` never raises on file contents: whatever the bytes, it returns a `ValidationReport` (a missing,
unreadable or non-regular path is a problem too). The order is fixed: the path is checked (a regular file, within
the size limit) before it is opened; the bytes (encoding, NUL, line endings) before they are decoded; every line
votes for the level of a multi-level task (BAH frame or video) unless one is given; then the rows are checked at
that level. The parsed `Table` is attached when every data row could be parsed and names a reference row.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.files import FileTooLarge, UnreadableFile, read_regular_file, regular_file_size
from abaw_bench.harness.submission import checks
from abaw_bench.harness.submission.checks import Problem, ProblemLog, printable
from abaw_bench.harness.submission.formats import detect_level, get_format, level_votes, levels_of
from abaw_bench.harness.submission.rows import IdIndex, RowChecker
from abaw_bench.harness.tasks.base import Table
from abaw_bench.harness.tasks.spec import SubmissionFormat

UNBOUNDED_MAX_BYTES = 2**31  # read_submission has no reference to size a limit from

# The rows a file must contain: the same for every level, per level (called with the level once it is known, or
# with each level to size the limit of a file whose level is not known yet), or None to read without a reference.
ReferenceRows = Sequence[str] | Callable[[str], Sequence[str]] | None


def default_max_bytes(fmt: SubmissionFormat, reference_rows: Sequence[str]) -> int:
    """1 MiB plus one row per reference row at its widest legal form (the longest reference id, every number at the
    cell limit, CRLF): an honest file of the right rows fits; reading more would be reading a wrong file."""
    longest_id = max(map(len, reference_rows), default=16)
    widest_row = longest_id + max(len(layout) for layout in fmt.layouts) * (checks.MAX_NUMBER_CHARS + 1) + 2
    return 2**20 + len(reference_rows) * widest_row


@dataclass(frozen=True)
class LevelChoice:
    """The level a file was checked at, how it was chosen ("given", "only", "detected", "size-limit" or "default")
    and why, in words."""

    level: str
    source: str
    reason: str


@dataclass
class ValidationReport:
    """The outcome of validating one file: ok when there is no error (warnings do not invalidate)."""

    file: str
    task: str
    level: str
    level_source: str
    level_reason: str
    format_title: str
    reference_rows: int | None
    data_rows: int
    problems: list[Problem]
    table: Table | None
    file_sha256: str | None = None  # of the bytes that were validated; None when the file was not read
    # canonical spellings of up to 1,000 of the file's ids that are not reference rows: which split they are from
    unknown_ids: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """No error (the API's name for `ok`)."""
        return self.ok

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
        level = f", level {self.level} ({self.level_reason})" if self.level_source != "only" else ""
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
            "level_reason": self.level_reason,
            "format": self.format_title,
            "reference_rows": self.reference_rows,
            "data_rows": self.data_rows,
            "file_sha256": self.file_sha256,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [problem.to_json() for problem in self.problems],
        }


def _rows_by_level(reference_rows: ReferenceRows) -> Callable[[str], Sequence[str] | None]:
    if reference_rows is None:
        return lambda level: None
    if callable(reference_rows):
        return reference_rows
    return lambda level: reference_rows


def _limits(task: str, rows_of: Callable[[str], Sequence[str] | None], max_bytes: int | None) -> Callable[[str], int]:
    """The size limit of each level: `max_bytes`, else derived from that level's reference (computed once)."""

    @functools.cache
    def limit(level: str) -> int:
        if max_bytes is not None:
            return max_bytes
        reference = rows_of(level)
        return UNBOUNDED_MAX_BYTES if reference is None else default_max_bytes(get_format(task, level), reference)

    return limit


def _fixed_level(task: str, level: str | None) -> LevelChoice | None:
    """The level when it does not depend on the file: given by the caller, or the task's only one."""
    levels = levels_of(task)  # an unknown task is the caller's error, not the file's
    if level is not None:
        return LevelChoice(get_format(task, level).level, "given", "given")
    if len(levels) == 1:
        return LevelChoice(levels[0], "only", "the task's only level")
    return None


def _default_level(task: str, why: str) -> LevelChoice:
    first = levels_of(task)[0]
    return LevelChoice(first, "default", f"not detected: {why}; {first}, the task's default, was assumed")


def _report(task: str, file: str, choice: LevelChoice, reference: Sequence[str] | None, log: ProblemLog,
            data_rows: int = 0, table: Table | None = None, sha256: str | None = None,
            unknown_ids: list[str] | None = None) -> ValidationReport:
    fmt = get_format(task, choice.level)
    return ValidationReport(file, task, fmt.level, choice.source, choice.reason, fmt.title,
                            len(reference) if reference is not None else None, data_rows, log.finish(), table, sha256,
                            unknown_ids or [])


def validate_file(task: str, path: str | os.PathLike[str], reference_rows: ReferenceRows, level: str | None = None,
                  max_bytes: int | None = None) -> ValidationReport:
    """Validate a submission file against the row ids it must contain. Never raises on the file's contents.

    The size limit (`max_bytes`, else derived from the reference) is checked before the file is opened; when the
    level is still unknown, against the largest limit of any level, and the report names that level.
    """
    rows_of = _rows_by_level(reference_rows)
    fixed = _fixed_level(task, level)
    file = printable(os.fsdecode(path))
    log = ProblemLog()
    try:
        size = regular_file_size(path)  # before anything is opened: a FIFO or a device would block the reader
        limit_of = _limits(task, rows_of, max_bytes)
        candidates = [fixed.level] if fixed is not None else list(levels_of(task))
        checked = max(candidates, key=limit_of)
        if size > limit_of(checked):
            raise FileTooLarge(size)
        data = read_regular_file(path, limit_of(checked))
    except UnreadableFile as why:
        log.add("file", why.expected, why.found)
        choice = fixed or _default_level(task, "the file could not be read")
        return _report(task, file, choice, rows_of(choice.level), log)
    except FileTooLarge as too_large:
        checks.check_file_size(too_large.size, limit_of(checked), log)
        if fixed is None and max_bytes is None:
            fixed = LevelChoice(checked, "size-limit", f"not read: larger than the size limit of every level; the "
                                                       f"largest, {checked}'s, was checked")
        choice = fixed or _default_level(task, "the file was refused before it was read")
        return _report(task, file, choice, rows_of(choice.level), log)
    return _validate_data(task, data, rows_of, fixed, limit_of, file)


def _decode_and_vote(task: str, data: bytes, start: int, log: ProblemLog) -> Counter[str] | None:
    """Checks that every line is UTF-8 and counts the non-blank lines by the level each suggests (for a
    single-level task, by that level); None when the bytes are not UTF-8."""
    votes: Counter[str] = Counter()
    for _, offset, chunk in checks.line_batches(data, start):
        text = checks.check_utf8(data, offset, chunk, log)
        if text is None:
            return None
        votes.update(level_votes(task, text.split("\n")))
    return votes


def validate_bytes(task: str, data: bytes, reference_rows: ReferenceRows, level: str | None = None,
                   max_bytes: int | None = None, file: str = "<bytes>") -> ValidationReport:
    """Run every check on a file's bytes (`validate_file` once the file is read). With `reference_rows` None the
    checks against a reference (missing, extra, order) are skipped."""
    rows_of = _rows_by_level(reference_rows)
    return _validate_data(task, data, rows_of, _fixed_level(task, level), _limits(task, rows_of, max_bytes), file)


def _validate_data(task: str, data: bytes, rows_of: Callable[[str], Sequence[str] | None], fixed: LevelChoice | None,
                   limit_of: Callable[[str], int], file: str) -> ValidationReport:
    sha256 = hashlib.sha256(data).hexdigest()
    log = ProblemLog()
    start = checks.check_byte_order_mark(data, log)
    votes = None
    if start is not None and checks.check_empty(data, start, log) and checks.check_binary(data, start, log):
        votes = _decode_and_vote(task, data, start, log)
        if votes is not None and not checks.check_line_endings(data, start, log):
            votes = None
    if start is None or votes is None:
        choice = fixed or _default_level(task, "the file could not be read as text")
        return _report(task, file, choice, rows_of(choice.level), log, sha256=sha256)
    if fixed is None:
        detected, reason = detect_level(task, votes)
        choice = LevelChoice(detected, "detected", reason)
    else:
        choice = fixed
    reference = rows_of(choice.level)
    fmt = get_format(task, choice.level)
    if not votes.total():
        log.add("empty", "a header and/or one line per reference row", "only whitespace characters")
        return _report(task, file, choice, reference, log, sha256=sha256)
    at_level = f" for the {fmt.level} level" if choice.source != "only" else ""
    if not checks.check_file_size(len(data), limit_of(choice.level), log, at_level):
        return _report(task, file, choice, reference, log, sha256=sha256)

    first_batch = next(checks.line_batches(data, start))[2]
    if not checks.check_file_layout(fmt, str(first_batch, "utf-8"), log):
        return _report(task, file, choice, reference, log, sha256=sha256)
    index = IdIndex(fmt.canonical_ids(list(reference)) if reference is not None else None)
    checker = RowChecker(fmt, index, log)
    checker.check_lines(data, start)
    rows = checker.finish()
    return _report(task, file, choice, reference, log, len(rows), checker.table(rows), sha256, checker.unknown_sample)


def read_submission(task: str, path: str | os.PathLike[str], level: str | None = None) -> Table:
    """Parse a submission without a reference list; AbawError naming the first problem if it is malformed."""
    report = validate_file(task, path, None, level=level, max_bytes=UNBOUNDED_MAX_BYTES)
    errors = report.errors
    if errors and errors[0].check == "file":
        raise AbawError(f"{report.file}: cannot read the submission: expected {errors[0].expected}, found "
                        f"{errors[0].found}")
    if errors or report.table is None:
        if not errors:
            raise AbawError(f"{report.file}: no table could be read from it")
        more = f" (and {len(errors) - 1} more problem(s); run 'abaw-bench validate' for all)" if len(errors) > 1 else ""
        raise AbawError(errors[0].render(report.file) + more)
    return report.table
