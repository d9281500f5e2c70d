"""Submission formats of the ABAW tasks: declarative specs, and a generic reader, writer and validator.

Public API (numpy only, never torch):
- `get_format(task, level=None)`: the `SubmissionFormat` spec (BAH levels "frame" / "video"; None = default level).
- `write_submission(task, path, table, level=None)`: atomic write, values clipped to the format's range.
- `read_submission(task, path, level=None) -> Table`: parse; AbawError if malformed.
- `validate_file(task, path, reference_rows, level=None, max_bytes=None) -> ValidationReport`: every check, one
  structured `Problem` per finding; never raises on the file's contents. `reference_rows` is a list, or a callable
  giving the list of a level. With level None a BAH file's level is detected from all its lines (a majority vote)
  and the report says which level and why. `validate_bytes` does the same for bytes in memory.
"""

from __future__ import annotations

from abaw_bench.harness.submission.checks import Problem
from abaw_bench.harness.submission.formats import detect_level, formats_of, get_format, levels_of
from abaw_bench.harness.submission.validator import (
    ValidationReport,
    default_max_bytes,
    read_submission,
    validate_bytes,
    validate_file,
)
from abaw_bench.harness.submission.writer import render_submission, write_submission
from abaw_bench.harness.tasks.spec import Column, SubmissionFormat

__all__ = [
    "Column",
    "Problem",
    "SubmissionFormat",
    "ValidationReport",
    "default_max_bytes",
    "detect_level",
    "formats_of",
    "get_format",
    "levels_of",
    "read_submission",
    "render_submission",
    "validate_bytes",
    "validate_file",
    "write_submission",
]
