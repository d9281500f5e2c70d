"""The participants' Python API: write, validate and score submissions from pandas DataFrames, in a notebook.

    from abaw_bench import write_submission, validate_submission, score_predictions

A predictions DataFrame holds the id column and the task's prediction columns: what `pandas.read_csv` gives for a
`template` file (`pd.read_csv(path, header=None)` for BAH's headerless files), rows in any order. The id column is
the one named as the format names it (`Filename`, `image_location`; `video-id` / `frame` for BAH) or `id`, in any
case, else the first column when it holds text. The other columns map onto the format's value columns as
`harness.submission.writer` says (by name, positionally, by argmax over one score column per class for Expr and BAH
frames, from `p1` for BAH videos). Columns that are entirely empty are dropped first: an Expr `template` read back
has the class index under `Neutral` and the seven other class names over empty cells.

The official Expr format (a 9-name header over 2-field rows) cannot be written by `DataFrame.to_csv`, and BAH's
organisers compare video ids in full and p0 + p1 with ==: `write_submission` is the way to write a file they accept.
Each function reads the split's rows from `data_root` (the release's root folder; None: the embedded demo dataset,
with a notice on stderr) and imports neither torch nor anything heavier than pandas.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.metrics.result import MetricResult
from abaw_bench.harness.submission.checks import EXAMPLES_SHOWN, Problem, ProblemLog, examples, show_id
from abaw_bench.harness.submission.formats import detect_level, get_format, level_votes
from abaw_bench.harness.submission.reference import DatasetReferences
from abaw_bench.harness.submission.validator import ValidationReport, validate_bytes, validate_file
from abaw_bench.harness.submission.writer import render_submission
from abaw_bench.harness.tasks.base import Table
from abaw_bench.harness.tasks.spec import SubmissionFormat

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["score_predictions", "validate_submission", "write_submission"]

FRAME_NAME = "<DataFrame>"  # how a report names predictions given as a DataFrame


def _is_frame(value: Any) -> bool:
    import pandas as pd

    return isinstance(value, pd.DataFrame)


def _id_column(fmt: SubmissionFormat, frame: pd.DataFrame) -> Any:
    from pandas.api.types import is_numeric_dtype

    by_name = {str(column).casefold(): column for column in frame.columns}
    for name in (fmt.id_name, "id"):
        if name.casefold() in by_name:
            return by_name[name.casefold()]
    first = frame.columns[0] if len(frame.columns) else None
    if first is not None and not is_numeric_dtype(frame[first].dtype):
        return first
    raise AbawError(f"predictions for {fmt.task}: expected an id column named {fmt.id_name!r} (or 'id'), or a first "
                    f"column of text ids; found columns {', '.join(map(str, frame.columns)) or '(none)'}")


def _id_text(value: Any) -> str:
    """An id cell as text: integers (EMI ids read by pandas) without a decimal point; blanks are refused."""
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value) or not float(value).is_integer():
            raise AbawError(f"predictions: an id cell holds {value!r}; expected an id")
        return str(int(value))
    return str(value).strip()


def table_from_frame(fmt: SubmissionFormat, frame: Any) -> Table:
    """The predictions DataFrame as a `Table` of canonical ids and float values (rows as given); AbawError naming
    the column when it cannot be read."""
    if not _is_frame(frame):
        raise AbawError(f"predictions for {fmt.task}: expected a pandas DataFrame, found {type(frame).__name__}")
    id_column = _id_column(fmt, frame)
    if frame[id_column].isna().any():
        row = int(np.flatnonzero(frame[id_column].isna().to_numpy())[0])
        raise AbawError(f"predictions for {fmt.task}: the id column {id_column!r} is empty on row {row}")
    from pandas.api.types import is_numeric_dtype

    ids = fmt.canonical_ids([_id_text(value) for value in frame[id_column].tolist()])
    values = frame.drop(columns=[id_column])
    values = values.loc[:, ~values.isna().all(axis=0).to_numpy()] if len(values) else values
    for column in values.columns:
        if not is_numeric_dtype(values[column].dtype):
            raise AbawError(f"predictions for {fmt.task}: column {column!r} holds {values[column].dtype} values; "
                            "expected numbers")
    return Table(ids, values.to_numpy(dtype=np.float64).reshape(len(ids), -1), tuple(map(str, values.columns)))


def _format_for(task: str, level: str | None, ids: list[str]) -> SubmissionFormat:
    """The format at `level`; for a multi-level task given no level, the one most ids look like (BAH frame paths
    end in an image name)."""
    if level is None and ids:
        level = detect_level(task, level_votes(task, ids))[0]
    return get_format(task, level)


def _reference_order(table: Table, rows: list[str]) -> Table:
    """The rows of `table` in the reference order, ids not in the reference last (in their order)."""
    position = {row_id: i for i, row_id in enumerate(rows)}
    order = sorted(range(len(table)), key=lambda i: position.get(table.ids[i], len(rows)))
    return Table([table.ids[i] for i in order], table.values[order], table.columns)


def _check_rows(fmt: SubmissionFormat, table: Table, rows: list[str], references: DatasetReferences) -> None:
    """AbawError unless `table` has each reference row once and nothing else (saying which split extra ids are)."""
    seen: set[str] = set()
    repeated = [row_id for row_id in table.ids if row_id in seen or seen.add(row_id)]
    if repeated:
        raise AbawError(f"predictions for {fmt.task}: {len(repeated):,} id(s) appear more than once, e.g. "
                        f"{examples([show_id(i) for i in repeated[:EXAMPLES_SHOWN]], len(repeated))}")
    reference = set(rows)
    extra = [row_id for row_id in table.ids if row_id not in reference]
    missing = [row_id for row_id in rows if row_id not in seen]
    if extra:
        found = references.split_of(fmt.level, extra[:1000])
        split = f" (they are {found[0]} rows: pass split={found[0]!r})" if found else ""
        raise AbawError(f"predictions for {fmt.task}: {len(extra):,} id(s) are not {references.split} rows{split}, "
                        f"e.g. {examples([show_id(i) for i in extra[:EXAMPLES_SHOWN]], len(extra))}")
    if missing:
        raise AbawError(f"predictions for {fmt.task}: {len(missing):,} of the {len(rows):,} {references.split} rows "
                        f"have no prediction, e.g. "
                        f"{examples([show_id(i) for i in missing[:EXAMPLES_SHOWN]], len(missing))}")


def write_submission(task: str, predictions: pd.DataFrame, path: str | os.PathLike[str], *, split: str = "test",
                     level: str | None = None, data_root: str | os.PathLike[str] | None = None) -> Path:
    """Write `predictions` as the official submission file of `split` at `path` (atomically) and return the path.

    Rows are written in the reference order, ids as the organisers spell them, values clipped to the format's
    range. AbawError, and nothing written, when a reference row has no prediction, an id is not a row of the split
    (the message says which split it is from), an id repeats, or a value is NaN.
    """
    from abaw_bench.harness.atomic import write_text

    table = table_from_frame(get_format(task), predictions)  # the ids, to pick a BAH level when none is given
    fmt = _format_for(task, level, table.ids)
    table = table_from_frame(fmt, predictions)
    references = DatasetReferences(task, None if data_root is None else os.fspath(data_root), split)
    rows = references.used(fmt.level)
    _check_rows(fmt, table, rows, references)
    write_text(path, render_submission(fmt, table.reindex(rows)))
    return Path(path)


def _report_of(task: str, predictions: Any, references: DatasetReferences, level: str | None,
               max_bytes: int | None) -> ValidationReport:
    """Validate a file, or the file `write_submission` would write from a DataFrame (its problems as the
    validator reports them: missing, extra and repeated ids, bad values)."""
    if not _is_frame(predictions):
        report = validate_file(task, predictions, references.rows, level=level, max_bytes=max_bytes)
        references.used(report.level)
        return report
    try:
        fmt = _format_for(task, level, table_from_frame(get_format(task), predictions).ids)
        table = _reference_order(table_from_frame(fmt, predictions), references.used(fmt.level))
        text = render_submission(fmt, table)
    except AbawError as error:
        log = ProblemLog()
        log.add("columns", "a DataFrame the submission writer can write", str(error))
        fmt = get_format(task, level)
        source, reason = ("given", "given") if level else ("default", "the DataFrame could not be read")
        return ValidationReport(FRAME_NAME, task, fmt.level, source, reason, fmt.title, None, len(predictions),
                                log.finish(), None)
    return validate_bytes(task, text.encode("utf-8"), references.rows, level=fmt.level, max_bytes=max_bytes,
                          file=FRAME_NAME)


def validate_submission(task: str, submission: str | os.PathLike[str] | pd.DataFrame, *, split: str = "test",
                        level: str | None = None, data_root: str | os.PathLike[str] | None = None,
                        max_bytes: int | None = None) -> ValidationReport:
    """Check a submission file (or a predictions DataFrame, as `write_submission` would write it) against the rows
    of `split`. The report's `.valid` says whether it passes, `.problems` lists what does not (each with `.check`,
    `.line`, `.expected`, `.found`), `.render()` gives the lines `abaw-bench validate` prints."""
    references = DatasetReferences(task, None if data_root is None else os.fspath(data_root), split)
    report = _report_of(task, submission, references, level, max_bytes)
    references.add_split_problem(report, lambda other: f"validate it with split={other!r}")
    return report


def score_predictions(task: str, predictions: str | os.PathLike[str] | pd.DataFrame, *, split: str = "val",
                      level: str | None = None, data_root: str | os.PathLike[str] | None = None,
                      max_bytes: int | None = None) -> MetricResult:
    """Score predictions (a DataFrame, or a submission file) on a labelled split with the task's reference metric,
    exactly as `abaw-bench score` scores the file `write_submission` writes. The result's `.value` is the headline
    metric (`.metric` names it), `.breakdown` the rest. AbawError listing the problems when they are not a valid
    submission of `split`."""
    from abaw_bench.harness.submission.scoring import score_report

    references = DatasetReferences(task, None if data_root is None else os.fspath(data_root), split)
    report = _report_of(task, predictions, references, level, max_bytes)
    references.add_split_problem(report, lambda other: f"pass split={other!r} if it is labelled, or predict the "
                                                       f"{split} rows")
    if not report.ok or report.table is None:
        errors: list[Problem] = report.errors
        listed = "\n".join(problem.render(report.file) for problem in errors[:EXAMPLES_SHOWN])
        raise AbawError(f"predictions are not a valid {task} submission of the {split} split:\n{listed}")
    return score_report(report, references)[0]
