"""The generic submission writer: a `Table` in, a file in the task's official format out (atomically).

How a table maps onto a format's value columns, in this order:
1. a layout whose column names are all among the table's columns: those columns, by name (any table order);
2. a single integer class column (Expr, BAH frame) and a table with one column per class: argmax per row
   (scores, logits or probabilities all work; ties go to the lower class);
3. BAH video level: a table with `p1` (and optionally `p0`, `pred`): p0 = 1 - p1 when absent, pred = argmax;
4. a layout as wide as the table: positional.
BAH video probabilities are always written as p1 (clipped to [0, 1]) and p0 = 1 - p1: the organisers' validator
compares p0 + p1 == 1 exactly, and for any float64 p1 in [0, 1] the float sum (1 - p1) + p1 rounds to exactly 1. A
given p0 must agree with 1 - p1 within the validator's tolerance (else the table is not a probability pair).
Ids are written as the organisers' validator compares them (`SubmissionFormat.written_id`: BAH video ids under
`Videos/`, as the release spells them), whichever accepted spelling the table holds.
Float columns are clipped to the format's range (EMI [0, 1], VA [-1, 1]); integer columns are clipped, then rounded
to the nearest integer with halves going down (0.5 → 0, like argmax's tie). Numbers are written with Python's
shortest round-trip repr, so reading the file back gives the table's values exactly.
"""

from __future__ import annotations

import os

import numpy as np
from abaw_bench.harness.atomic import write_text
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.submission.formats import get_format
from abaw_bench.harness.tasks.base import Table
from abaw_bench.harness.tasks.spec import PROBABILITY_TOLERANCE, Column, SubmissionFormat


def _probability_pair(fmt: SubmissionFormat, table: Table, names: list[str], values: np.ndarray,
                      pred_given: bool) -> np.ndarray:
    """(p0, p1, pred) columns from a table's p1 (and p0, pred when given): p0 = 1 - p1 exactly."""
    p1 = np.clip(values[:, names.index("p1")], 0.0, 1.0)
    p0 = 1.0 - p1
    if "p0" in names:
        given = values[:, names.index("p0")]
        off = np.flatnonzero(~(np.abs(given + values[:, names.index("p1")] - 1.0) <= PROBABILITY_TOLERANCE))
        if off.size:
            row = int(off[0])
            raise AbawError(f"cannot write a {fmt.task} {fmt.level} submission: p0 + p1 is not 1 on {off.size:,} "
                            f"row(s), the first for id {table.ids[row]!r} ({given[row]!r} + "
                            f"{values[row, names.index('p1')]!r}); expected probabilities of the two classes")
    pred = values[:, names.index("pred")] if pred_given else (p1 > p0).astype(np.float64)
    return np.stack([p0, p1, pred], axis=1)


def _layout_values(fmt: SubmissionFormat, table: Table) -> tuple[tuple[Column, ...], np.ndarray]:
    names = list(table.columns)
    values = np.asarray(table.values, dtype=np.float64)
    for layout in fmt.layouts:
        if [column.name for column in layout] == ["p0", "p1", "pred"] and "p1" in names:
            return layout, _probability_pair(fmt, table, names, values, pred_given="pred" in names)
    for layout in fmt.layouts:
        if all(column.name in names for column in layout):
            return layout, values[:, [names.index(column.name) for column in layout]]
    for layout in fmt.layouts:
        only = layout[0]
        if len(layout) == 1 and only.integer and only.low == 0 and values.shape[1] == only.high + 1 > 1:
            return layout, np.argmax(values, axis=1).astype(np.float64)[:, None]
    for layout in fmt.layouts:
        if len(layout) == values.shape[1]:
            return layout, values
    raise AbawError(f"cannot write a {fmt.task} {fmt.level} submission from a table with columns "
                    f"{', '.join(names) or '(none)'}: expected columns {fmt.describe_layouts()}")


def _format_number(value: float, column: Column) -> str:
    return str(int(value)) if column.integer else repr(float(value))


def render_submission(fmt: SubmissionFormat, table: Table) -> str:
    """The file's text (LF line endings, final newline); AbawError if the table cannot be written honestly."""
    layout, values = _layout_values(fmt, table)
    bad_rows = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if bad_rows.size:
        raise AbawError(f"cannot write a {fmt.task} submission: {bad_rows.size} row(s) hold NaN or infinite "
                        f"predictions, the first for id {table.ids[bad_rows[0]]!r}")
    columns = []
    for j, column in enumerate(layout):
        clipped = np.clip(values[:, j], column.low, column.high)
        if column.integer:
            clipped = np.ceil(clipped - 0.5)
        columns.append([_format_number(v, column) for v in clipped.tolist()])
    lines = [",".join(fmt.header)] if fmt.header is not None else []
    lines.extend(",".join((fmt.written_id(fmt.canonical_id(row_id)), *cells))
                 for row_id, *cells in zip(table.ids, *columns, strict=True))
    return "\n".join(lines) + "\n"


def write_submission(task: str, path: str | os.PathLike[str], table: Table, level: str | None = None) -> None:
    """Write `table` (rows in the order to write; the reference order where the format fixes it) atomically."""
    write_text(path, render_submission(get_format(task, level), table))
