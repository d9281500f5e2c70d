"""The row checks: one pass over a submission's lines (header, column count, id format, value type, NaN/inf, range,
BAH probabilities), then the id checks against the reference (missing, extra, duplicated, order).

Memory stays proportional to the file whatever its shape: lines are decoded a batch at a time, and a data row keeps
its id's position in an `IdIndex`, its line number and its values, never its text; ids are then compared as
positions, with array operations. A batch of clean lines (the whole of an honest file) is checked column by column
in C (`_clean_batch`); a batch with any problem is checked line by line (`_line`), which writes the messages.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from itertools import count, repeat

import numpy as np
from abaw_bench.harness.submission.checks import (
    EXAMPLES_SHOWN,
    MAX_ID_CHARS,
    MAX_NUMBER_CHARS,
    ProblemLog,
    check_cell,
    check_pred_matches_argmax,
    check_probability_sum,
    count_fields,
    examples,
    is_number,
    line_batches,
    show,
    show_id,
    split_fields,
    split_lines,
)
from abaw_bench.harness.tasks.base import Table
from abaw_bench.harness.tasks.spec import Column, SubmissionFormat

UNKNOWN_SAMPLE = 1000  # unknown ids kept to tell which other split a file covers, if any

# Characters str.strip() removes that can occur in ASCII text (besides the line breaks a batch is split at): a clean
# batch without any of them needs no per-field strip.
_ASCII_BLANKS = (" ", "\t", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f")


class IdIndex:
    """Canonical ids → positions. With a reference the positions are fixed (an id not in it is -1); without one, each
    new id of the file gets the next position."""

    def __init__(self, reference: list[str] | None) -> None:
        self.fixed = reference is not None
        self.position: dict[str, int] = dict(zip(reference or (), count()))
        if reference is not None and len(self.position) < len(reference):  # repeated ids: first positions, no gaps
            self.position = dict(zip(dict.fromkeys(reference), count()))
        self._ids = list(self.position) if self.fixed else None

    def in_order(self, row_ids: list[str], start: int) -> bool:
        """Whether `row_ids` are the reference's from position `start` on, as in an honest file of an ordered format:
        a list comparison then stands for normalising and looking up every id (reference ids are canonical)."""
        return self._ids is not None and self._ids[start:start + len(row_ids)] == row_ids

    def positions(self, row_ids: list[str]) -> list[int]:
        if self.fixed:
            return list(map(self.position.get, row_ids, repeat(-1)))
        position, add = self.position, self.position.setdefault
        return [add(row_id, len(position)) for row_id in row_ids]

    def ids(self) -> list[str]:
        """Every id, at its position."""
        return self._ids if self._ids is not None else list(self.position)


@dataclass
class Rows:
    """What the pass keeps of the data rows that have the right number of fields."""

    layout: tuple[Column, ...]
    positions: array = field(default_factory=lambda: array("q"))  # IdIndex position per row, -1 = unknown id
    lines: array = field(default_factory=lambda: array("q"))  # line number per row
    values: array = field(default_factory=lambda: array("d"))  # len(layout) values per row, NaN where unparsed
    complete: bool = True  # every data line had the right number of fields
    all_parsed: bool = True  # every cell was a number of its column's kind

    def __len__(self) -> int:
        return len(self.positions)

    def value_matrix(self) -> np.ndarray:
        return np.frombuffer(self.values, dtype=np.float64).reshape(-1, len(self.layout))


class RowChecker:
    """`check_lines` runs the pass over a file's text; `finish` then runs the id checks, and `table` builds the
    parsed table."""

    def __init__(self, fmt: SubmissionFormat, index: IdIndex, log: ProblemLog) -> None:
        self.fmt, self.index, self.log = fmt, index, log
        self.rows: Rows | None = None  # created with the layout, at the first non-blank data line
        self.expected_width = ""
        self.probability_columns: tuple[int, int, int | None] | None = None  # BAH video: where p0, p1, pred are
        self.blank_run: tuple[int, int] | None = None  # (first line, count) of blank lines not yet reported
        self.extra: list[tuple[int, str]] = []  # (line, raw id) of the first rows with ids not in the reference
        self.extra_count = 0
        self.unknown_sample: list[str] = []  # canonical ids of the first UNKNOWN_SAMPLE rows with unknown ids
        self.misspelt: list[tuple[int, str]] = []  # (line, raw id) of the first known ids not in the official spelling
        self.misspelt_count = 0

    # -- the pass ---------------------------------------------------------------------------------------------------
    def check_lines(self, data: bytes, start: int) -> None:
        for number, _, chunk in line_batches(data, start):
            text = str(chunk, "utf-8")
            if number == 1:
                first_line, _, rest = text.partition("\n")
                if self._is_header(first_line.removesuffix("\r")):
                    number, text = 2, rest
            if not text:
                continue
            if not text.strip():  # blank lines only: interior if data follows, else fine
                first, length = self.blank_run or (number, 0)
                self.blank_run = (first, length + text.count("\n") + (not text.endswith("\n")))
            elif not self._clean_batch(number, text):
                for offset, line in enumerate(split_lines(text)):
                    self._line(number + offset, line)

    def _is_header(self, line: str) -> bool:
        """Whether line 1 is a header to skip. A missing header does not swallow the first data row."""
        fmt, log = self.fmt, self.log
        first = split_fields(line) or [line]
        looks_like_data = bool(first) and (
            (self.index.fixed and len(first[0]) <= MAX_ID_CHARS and fmt.canonical_id(first[0]) in self.index.position)
            or (len(first) > 1 and all(is_number(f) for f in first[1:]))
        )
        if fmt.header is None:
            if looks_like_data or not first[0]:
                return False
            log.add("header", f"no header line (the format is headerless: {fmt.describe_layouts()})", show(line),
                    line=1)
            return True
        if tuple(first) == fmt.header:
            return True
        expected = show(",".join(fmt.header), limit=200)
        if looks_like_data and first[0].lower() != fmt.id_name.lower():
            log.add("header", f"the header {expected}", f"a data row {show(line)} (the header is missing)", line=1)
            return False
        log.add("header", f"the header {expected}", show(line, limit=200), line=1)
        return True

    def _start_rows(self, line: str) -> Rows:
        """The layout is the one the first data line uses (BAH video level accepts two), else the first."""
        fmt = self.fmt
        layout = fmt.layout_for_width(count_fields(line) - 1) or fmt.default_layout
        names = [column.name for column in layout]
        self.expected_width = f"{len(layout) + 1} fields ({','.join((fmt.id_name, *names))})"
        if len(fmt.layouts) > 1:
            self.expected_width += f" as on the first data line; accepted layouts: {fmt.describe_layouts()}"
        if fmt.header is not None and len(fmt.header) != len(layout) + 1:
            self.expected_width += (f" under the {len(fmt.header)}-name header: DataFrame.to_csv cannot write that "
                                    f"shape; write the file with abaw_bench.write_submission('{fmt.task}', frame, "
                                    "path)")
        if "p0" in names and "p1" in names:
            self.probability_columns = (names.index("p0"), names.index("p1"),
                                        names.index("pred") if "pred" in names else None)
        self.rows = Rows(layout)
        return self.rows

    # -- clean batches ------------------------------------------------------------------------------------------------
    def _clean_batch(self, number: int, text: str) -> bool:
        """Check and keep a batch of lines at C speed when none of them has any problem; False (nothing kept) when
        one might, or the batch needs the line-by-line path for another reason (quotes, blank lines, a warning)."""
        if self.blank_run is not None or '"' in text:
            return False
        body = text.replace("\r", "")  # every CR precedes a LF (bare CRs were refused)
        content = body.rstrip()  # trailing blank lines are counted, not split (the last field is stripped anyway)
        lines = content.split("\n")
        blank_after = body.count("\n") + (not body.endswith("\n")) - len(lines)
        if self.rows is None and not lines[0].strip():
            return False  # the layout comes from the first non-blank line
        rows = self.rows if self.rows is not None else self._start_rows(lines[0])
        width = len(rows.layout) + 1
        if not all(map((width - 1).__eq__, map(str.count, lines, repeat(",")))):
            return False
        fields = content.replace("\n", ",").split(",")
        if not content.isascii() or any(blank in content for blank in _ASCII_BLANKS):
            fields = [f.strip() for f in fields]
        values = self._clean_values(rows.layout, [fields[j::width] for j in range(1, width)])
        raw_ids = fields[0::width]
        if values is None or not self._clean_ids(raw_ids):
            return False
        start = len(rows.positions)
        if self.index.in_order(raw_ids, start):  # the reference's (canonical) ids, in order
            positions: list[int] | range = range(start, start + len(raw_ids))
            canonical = raw_ids
        else:
            canonical = self.fmt.canonical_ids(raw_ids)
            positions = self.index.positions(canonical)
        self._check_spellings(number, raw_ids, canonical, positions)
        if self.index.fixed and -1 in positions:
            for offset, position in enumerate(positions):
                if position < 0:
                    self._unknown_id(number + offset, raw_ids[offset])
        rows.positions.extend(positions)
        rows.lines.extend(range(number, number + len(lines)))
        rows.values.frombytes(values.tobytes())
        if blank_after:
            self.blank_run = (number + len(lines), blank_after)
        return True

    def _clean_ids(self, raw_ids: list[str]) -> bool:
        pattern = self.fmt.id_pattern
        return (min(map(len, raw_ids)) > 0 and max(map(len, raw_ids)) <= MAX_ID_CHARS
                and (pattern is None or all(map(pattern.fullmatch, raw_ids))))

    def _clean_values(self, layout: tuple[Column, ...], columns: list[list[str]]) -> np.ndarray | None:
        """The batch's values (rows x columns) when every cell is a finite number of its column's kind and range and
        BAH probabilities agree, else None. An ASCII cell without '_' that float() accepts is exactly a cell that
        `is_number` accepts."""
        parsed = []
        for column, cells in zip(layout, columns, strict=True):
            if max(map(len, cells)) > MAX_NUMBER_CHARS:
                return None
            joined = "".join(cells)
            if not joined.isascii() or "_" in joined:
                return None
            try:
                values = np.fromiter(map(float, cells), dtype=np.float64, count=len(cells))
            except ValueError:
                return None
            if not np.isfinite(values).all() or values.min() < column.low or values.max() > column.high:
                return None
            if column.integer and not np.array_equal(values, np.round(values)):
                return None
            parsed.append(values)
        matrix = np.stack(parsed, axis=1)
        if self.probability_columns is not None:
            p0_at, p1_at, pred_at = self.probability_columns
            p0, p1 = matrix[:, p0_at], matrix[:, p1_at]
            if np.any(p0 + p1 != 1.0):
                return None  # an error, or the warning that the organisers' validator wants the sum exactly 1
            if pred_at is not None and np.any((p0 != p1) & (matrix[:, pred_at] != (p1 > p0))):
                return None  # warnings: the line-by-line path words them
        return matrix

    # -- line by line -------------------------------------------------------------------------------------------------
    def _line(self, number: int, line: str) -> None:
        if not line.strip():
            first, length = self.blank_run or (number, 0)
            self.blank_run = (first, length + 1)
            return
        rows = self.rows if self.rows is not None else self._start_rows(line)
        if self.blank_run is not None:  # blank lines followed by data are interior: report them
            first, length = self.blank_run
            self.log.add_run("column-count", self.expected_width, "an empty line", first, length)
            rows.complete, self.blank_run = False, None
        fields = split_fields(line)
        if fields is None or len(fields) != len(rows.layout) + 1:
            found = f"{count_fields(line):,} fields" if fields is None else f"{len(fields)} fields"
            self.log.add("column-count", self.expected_width, f"{found} in {show(line)}", line=number)
            rows.complete = False
            return
        rows.positions.append(self._id_position(number, fields[0]))
        values = [check_cell(column, cell, number, self.log)
                  for column, cell in zip(rows.layout, fields[1:], strict=True)]
        self._check_probabilities(number, fields, values)
        if None in values:
            rows.all_parsed = False
            values = [float("nan") if value is None else value for value in values]
        rows.lines.append(number)
        rows.values.extend(values)

    def _id_position(self, number: int, raw: str) -> int:
        fmt = self.fmt
        too_long = len(raw) > MAX_ID_CHARS
        if not raw or too_long or (fmt.id_pattern is not None and not fmt.id_pattern.fullmatch(raw)):
            limit = f" of at most {MAX_ID_CHARS:,} characters" if too_long else ""
            self.log.add("id-format", f"{fmt.id_name} as {fmt.id_rule}{limit}", show_id(raw), line=number)
        canonical = raw if too_long else fmt.canonical_id(raw)
        position = self.index.positions([canonical])[0]
        if position < 0:
            self._unknown_id(number, raw)
        else:
            self._check_spellings(number, [raw], [canonical], [position])
        return position

    def _check_spellings(self, number: int, raw_ids: list[str], canonical: list[str],
                         positions: list[int] | range) -> None:
        """Known ids that the format accepts but the organisers' validator would not (BAH video ids without
        `Videos/`): counted here, reported as one warning by `finish`."""
        if self.fmt.official_id is None:
            return
        written = self.fmt.written_id
        for offset, (raw, row_id, position) in enumerate(zip(raw_ids, canonical, positions, strict=True)):
            if position >= 0 and raw != written(row_id):
                self.misspelt_count += 1
                if len(self.misspelt) < EXAMPLES_SHOWN:
                    self.misspelt.append((number + offset, raw))

    def _unknown_id(self, number: int, raw: str) -> None:
        self.extra_count += 1
        if len(self.extra) < EXAMPLES_SHOWN:
            self.extra.append((number, raw))
        if len(self.unknown_sample) < UNKNOWN_SAMPLE and len(raw) <= MAX_ID_CHARS:
            self.unknown_sample.append(self.fmt.canonical_id(raw))

    def _check_probabilities(self, number: int, fields: list[str], values: list[float | None]) -> None:
        """BAH video level's cross-column checks, on the row's parsed values."""
        if self.probability_columns is None:
            return
        p0_at, p1_at, pred_at = self.probability_columns
        p0, p1 = values[p0_at], values[p1_at]
        if p0 is None or p1 is None:
            return
        check_probability_sum(p0, p1, (fields[p0_at + 1], fields[p1_at + 1]), number, self.log)
        pred = values[pred_at] if pred_at is not None else None
        if pred is not None:
            check_pred_matches_argmax(p0, p1, pred, fields[pred_at + 1], number, self.log)

    # -- after the pass ------------------------------------------------------------------------------------------------
    def finish(self) -> Rows:
        """The id checks over the whole file (trailing blank lines are fine and were dropped)."""
        rows = self.rows if self.rows is not None else Rows(self.fmt.default_layout)
        fmt, log = self.fmt, self.log
        ids = self.index.ids()
        positions = np.frombuffer(rows.positions, dtype=np.int64)
        lines = np.frombuffer(rows.lines, dtype=np.int64)
        known = positions >= 0
        known_positions, known_lines = positions[known], lines[known]
        seen, first_at = np.unique(known_positions, return_index=True)
        first_at.sort()  # the rows that are an id's first occurrence, in file order
        if len(first_at) < len(known_positions):
            self._report_duplicates(ids, known_positions, known_lines, first_at)
        if not self.index.fixed:
            return rows
        if len(seen) < len(ids):
            missing = np.setdiff1d(np.arange(len(ids)), seen, assume_unique=True)
            found = [show_id(ids[position]) for position in missing[:EXAMPLES_SHOWN]]
            log.add("ids-missing", f"all {len(ids):,} reference {fmt.id_name} ids",
                    f"{missing.size:,} missing, e.g. {examples(found, int(missing.size))}")
        if self.extra_count:
            found = [f"{show_id(raw)} (line {line})" for line, raw in self.extra]
            log.add("ids-extra", f"only reference {fmt.id_name} ids",
                    f"{self.extra_count:,} row(s) with unknown ids, e.g. {examples(found, self.extra_count)}",
                    line=self.extra[0][0])
        if fmt.ordered:
            self._check_row_order(ids, known_positions[first_at], known_lines[first_at])
        if self.misspelt_count:
            found = [f"{show_id(raw)} (line {line})" for line, raw in self.misspelt]
            log.add("id-spelling", f"{fmt.id_name} ids as the release spells them, e.g. "
                                   f"{show_id(fmt.written_id(fmt.canonical_id(self.misspelt[0][1])))}",
                    f"{self.misspelt_count:,} id(s) spelt otherwise, e.g. {examples(found, self.misspelt_count)}: "
                    "accepted here, but the organisers' validator compares ids in full and rejects them; write the "
                    "file with abaw_bench.write_submission or abaw-bench template", line=self.misspelt[0][0],
                    severity="warning")
        return rows

    def _report_duplicates(self, ids: list[str], positions: np.ndarray, lines: np.ndarray,
                           first_at: np.ndarray) -> None:
        repeated = np.ones(len(positions), dtype=bool)
        repeated[first_at] = False
        repeated_positions = positions[repeated]  # in file order
        distinct, first_repeat = np.unique(repeated_positions, return_index=True)
        found = []
        for position in repeated_positions[np.sort(first_repeat)[:EXAMPLES_SHOWN]]:
            at = lines[positions == position][:3]
            found.append(f"{show_id(ids[position])} at lines {', '.join(map(str, at.tolist()))}")
        self.log.add("ids-duplicated", f"each {self.fmt.id_name} once",
                     f"{distinct.size:,} id(s) more than once, e.g. {examples(found, int(distinct.size))}",
                     line=int(lines[repeated][0]))

    def _check_row_order(self, ids: list[str], submitted: np.ndarray, submitted_lines: np.ndarray) -> None:
        """Compares the known ids (first occurrences) with the reference order restricted to them, so a missing or
        extra row is not also reported as an order problem."""
        if np.all(submitted[1:] > submitted[:-1]):
            return
        expected = np.sort(submitted)
        misplaced = np.flatnonzero(submitted != expected)
        at = int(misplaced[0])
        self.log.add("row-order", f"rows in the reference order: {show_id(ids[int(expected[at])])} here",
                     f"{show_id(ids[int(submitted[at])])} ({misplaced.size:,} of {submitted.size:,} rows out of "
                     "place)", line=int(submitted_lines[at]))

    def table(self, rows: Rows) -> Table | None:
        """The parsed table, when every data row was read and names a known id (else None: nothing to score)."""
        if not rows.complete or not rows.all_parsed or self.extra_count:
            return None
        ids = self.index.ids()
        return Table([ids[position] for position in rows.positions], rows.value_matrix().copy(),
                     tuple(column.name for column in rows.layout))
