"""Where the rows a submission must contain come from: a dataset root's reader, or an organisers' sample file.

A reference FILE (`abaw-bench validate --reference FILE`) may be either
- an organisers' sample submission in the task's format: the ids are its first column, and a first line whose first
  field is the format's id column name (`Filename`, `image_location`) is a header and skipped; or
- a plain list of ids, one per line (the same rule reads it: each line's first and only field is an id).
Blank lines are ignored; a duplicated id makes the reference unusable (every report against it would mislead).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.submission.checks import split_fields, split_lines
from abaw_bench.harness.submission.formats import SubmissionFormat, levels_of
from abaw_bench.harness.tasks.base import DatasetReader


def load_reference_file(path: str | os.PathLike[str], fmt: SubmissionFormat) -> list[str]:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise AbawError(f"--reference {path}: cannot read it ({error.strerror or error})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise AbawError(f"--reference {path}: not UTF-8 text (undecodable byte at offset {error.start}); expected "
                        "a sample submission or a list of ids, one per line") from None
    ids: list[str] = []
    first_line_of: dict[str, int] = {}
    for number, line in enumerate(split_lines(text), start=1):
        fields = split_fields(line)
        if not fields[0]:
            continue
        if number == 1 and fmt.header is not None and fields[0].lower() == fmt.id_name.lower():
            continue
        row_id = fmt.canonical_id(fields[0])
        if row_id in first_line_of:
            raise AbawError(f"--reference {path}, line {number}: id {row_id!r} already appears on line "
                            f"{first_line_of[row_id]}; expected each reference id once")
        first_line_of[row_id] = number
        ids.append(row_id)
    if not ids:
        raise AbawError(f"--reference {path}: no ids found; expected a sample submission or one id per line")
    return ids


def reader_level(task: str, level: str) -> str | None:
    """The level argument for a task reader: None for single-level tasks, whose readers take no level."""
    return level if len(levels_of(task)) > 1 else None


@dataclass(frozen=True)
class DatasetReference:
    """Reference rows read from a dataset root, with what a result must record about where they came from."""

    rows: list[str]
    root: Path
    is_demo: bool
    manifest_sha256: str

    @property
    def shown_root(self) -> str:
        return "demo" if self.is_demo else str(self.root)


def dataset_reference(task: str, data_root: str | None, split: str,
                      level: str) -> tuple[DatasetReference, DatasetReader]:
    """(reference rows of `split` at `level` with provenance, the task reader) — torch-free, reader imported lazily."""
    from abaw_bench.harness.paths import is_demo_root, resolve_data_root
    from abaw_bench.harness.tasks import get_task

    root = resolve_data_root(task, data_root)
    reader = get_task(task).reader(root)
    rows = reader.reference_rows(split, reader_level(task, level))
    return DatasetReference(rows, root, is_demo_root(root), reader.manifest().sha256()), reader


def sniff(path: str | os.PathLike[str], limit: int = 4096) -> bytes:
    """The first bytes of a file for level detection; empty when unreadable (validation reports why)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(limit)
    except OSError:
        return b""
