"""Where the rows a submission must contain come from: a dataset root's reader, or an organisers' sample file.

A reference FILE (`abaw-bench validate --reference FILE`) may be either
- an organisers' sample submission in the task's format: the ids are its first column, and a first line whose first
  field is the format's id column name (`Filename`, `image_location`) is a header and skipped; or
- a plain list of ids, one per line (the same rule reads it: each line's first and only field is an id).
Blank lines are ignored; a duplicated id makes the reference unusable (every report against it would mislead).

A dataset root gives the rows of a split per level (`DatasetReferences`); a root that gives none is an error about
the root, naming what the task's reader looked for (`DatasetReader.reference_source`), not a file full of "unknown
ids".
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cached_property

from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.files import FileTooLarge, UnreadableFile, read_regular_file
from abaw_bench.harness.submission.checks import MAX_ID_CHARS, Problem, printable, show_id, split_fields, split_lines
from abaw_bench.harness.submission.formats import levels_of
from abaw_bench.harness.submission.validator import ValidationReport
from abaw_bench.harness.tasks.base import SPLITS, DatasetReader
from abaw_bench.harness.tasks.spec import SubmissionFormat

REFERENCE_MAX_BYTES = 1 << 28  # 256 MiB: three million 80-character ids; a larger file is not a list of ids


def load_reference_file(path: str | os.PathLike[str], fmt: SubmissionFormat) -> list[str]:
    """The canonical ids of a reference file (checked to be a regular file before it is opened, then read once)."""
    where = f"--reference {printable(os.fspath(path))}"
    try:
        data = read_regular_file(path, REFERENCE_MAX_BYTES)
    except UnreadableFile as why:
        raise AbawError(f"{where}: cannot read it: expected {why.expected}, found {why.found}") from None
    except FileTooLarge as too_large:
        raise AbawError(f"{where}: expected a list of ids of at most {REFERENCE_MAX_BYTES:,} bytes, found "
                        f"{too_large.size:,} bytes") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise AbawError(f"{where}: not UTF-8 text (undecodable byte at offset {error.start}); expected "
                        "a sample submission or a list of ids, one per line") from None
    del data
    ids: list[str] = []
    first_line_of: dict[str, int] = {}
    for number, line in enumerate(split_lines(text), start=1):
        fields = split_fields(line)
        if fields is None:
            raise AbawError(f"{where}, line {number}: expected an id (and maybe a sample row's values), found a line "
                            f"of {line.count(',') + 1:,} comma-separated fields")
        if not fields[0]:
            continue
        if number == 1 and fmt.header is not None and fields[0].lower() == fmt.id_name.lower():
            continue
        if len(fields[0]) > MAX_ID_CHARS:
            raise AbawError(f"{where}, line {number}: expected an id of at most {MAX_ID_CHARS:,} characters, found "
                            f"{show_id(fields[0])}")
        row_id = fmt.canonical_id(fields[0])
        if row_id in first_line_of:
            raise AbawError(f"{where}, line {number}: id {show_id(row_id)} already appears on line "
                            f"{first_line_of[row_id]}; expected each reference id once")
        first_line_of[row_id] = number
        ids.append(row_id)
    if not ids:
        raise AbawError(f"{where}: no ids found; expected a sample submission or one id per line")
    return ids


def reader_level(task: str, level: str) -> str | None:
    """The level argument for a task reader: None for single-level tasks, whose readers take no level."""
    return level if len(levels_of(task)) > 1 else None


class DatasetReferences:
    """The reference rows of one split of a dataset root, per level, each read when first asked for (BAH reads its
    frame list only when a frame-level limit or check needs it), and what a result records about where they came
    from."""

    def __init__(self, task: str, data_root: str | None, split: str) -> None:
        from abaw_bench.harness.dataroot import resolve_data_root
        from abaw_bench.harness.paths import is_demo_root
        from abaw_bench.harness.tasks import get_task

        self.task, self.split = task, split
        self.root = resolve_data_root(task, data_root)
        self.is_demo = is_demo_root(self.root)
        self.reader: DatasetReader = get_task(task).reader(self.root)
        self._rows: dict[str, list[str]] = {}

    def rows(self, level: str) -> list[str]:
        """The rows of `level` (possibly none: `used` says whether the root is usable)."""
        if level not in self._rows:
            self._rows[level] = self.reader.reference_rows(self.split, reader_level(self.task, level))
        return self._rows[level]

    def used(self, level: str) -> list[str]:
        """The rows of the level a file was checked at; AbawError about the root (not the file) when it has none."""
        rows = self.rows(level)
        if not rows:
            at_level = f" at {level} level" if len(levels_of(self.task)) > 1 else ""
            raise AbawError(f"data root {printable(str(self.root))}: no {self.split} rows of task {self.task}"
                            f"{at_level} there; looked for "
                            f"{self.reader.reference_source(self.split, reader_level(self.task, level))}. "
                            f"Is it the {self.task} dataset's root folder, in its official layout?")
        return rows

    def split_of(self, level: str, ids: list[str]) -> tuple[str, int] | None:
        """(another split, how many of `ids` are its rows) when most of `ids` (canonical ids a file holds but this
        split does not) are that split's rows: the file was written for it. None when no split holds most of them."""
        if not ids:
            return None
        for other in SPLITS:
            if other == self.split:
                continue
            try:
                rows = set(self.reader.reference_rows(other, reader_level(self.task, level)))
            except AbawError:  # a root that lacks that split's lists tells nothing
                continue
            hits = sum(row_id in rows for row_id in ids)
            if hits * 2 > len(ids):
                return other, hits
        return None

    def add_split_problem(self, report: ValidationReport, advice: Callable[[str], str]) -> None:
        """When the file's unknown ids are another split's rows, a problem first on `report` saying which split they
        are from (it explains the missing and extra ids after it), with `advice(that split)`: the command's way to
        check that split, or to write this one."""
        found = self.split_of(report.level, report.unknown_ids)
        if found is None:
            return
        other, hits = found
        report.problems.insert(0, Problem(
            "split", f"ids of the {self.split} split",
            f"ids of the {other} split ({hits:,} of {len(report.unknown_ids):,} sampled unknown ids are {other} "
            f"rows): {advice(other)}"))

    @cached_property
    def manifest_sha256(self) -> str:
        return self.reader.manifest().sha256()

    def provenance(self) -> dict[str, str | bool]:
        """The data root actually used (a path, also for the demo), whether it is a demo, the split and its
        manifest."""
        return {"data_root": str(self.root), "demo": self.is_demo, "split": self.split,
                "manifest_sha256": self.manifest_sha256}
