"""Reading a run's `val_predictions.csv`: the per-item predictions and labels the bootstrap resamples.

Two layouts, as `abaw-bench run` writes them:
    clip tasks (EMI)        id,<prediction columns>,label:<label columns>
    frame-level tasks       id,group,<prediction columns>,label:<label columns>   (group: the frame's video id)
Prediction and label columns need not be the same (BAH predictions may add a probability "p1"). Ids stay strings:
EMI ids such as "08072" keep their leading zeros.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.files import read_text
from abaw_bench.harness.tasks.base import Table

LABEL_PREFIX = "label:"
GROUP_COLUMN = "group"
_SHOWN = 40  # characters of a user value quoted in an error


@dataclass(frozen=True)
class Predictions:
    """One run's validation predictions and labels, row-aligned; `groups` is None for clip tasks."""

    path: Path
    predictions: Table
    labels: Table

    @property
    def groups(self) -> list[str] | None:
        return self.labels.groups

    def reindex(self, ids: list[str]) -> Predictions:
        return Predictions(self.path, self.predictions.reindex(ids), self.labels.reindex(ids))


def _quote(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "…")


def _header(path: Path, header: list[str]) -> tuple[bool, list[str], list[str]]:
    """(has a group column, prediction columns, label columns) of a header, or AbawError saying what is wrong."""
    if not header or header[0] != "id":
        found = _quote(header[0]) if header else "an empty line"
        raise AbawError(f"{path}: line 1: expected the header to start with 'id', found {found}")
    grouped = len(header) > 1 and header[1] == GROUP_COLUMN
    rest = header[2 if grouped else 1:]
    predicted = [name for name in rest if not name.startswith(LABEL_PREFIX)]
    labelled = [name[len(LABEL_PREFIX):] for name in rest if name.startswith(LABEL_PREFIX)]
    if not predicted or not labelled:
        raise AbawError(f"{path}: line 1: expected prediction columns and '{LABEL_PREFIX}<column>' label columns, "
                        f"found {', '.join(header)[:200]}")
    if rest != predicted + [LABEL_PREFIX + name for name in labelled]:
        raise AbawError(f"{path}: line 1: expected every prediction column before the '{LABEL_PREFIX}' columns")
    return grouped, predicted, labelled


def read_predictions(path: Path) -> Predictions:
    """The file's tables; a malformed file raises AbawError naming the line and the field at fault."""
    text = read_text(path, "the predictions")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        raise AbawError(f"{path}: not a CSV file: {error}") from error
    grouped, predicted, labelled = _header(path, rows[0] if rows else [])
    width = 1 + grouped + len(predicted) + len(labelled)
    body = rows[1:]
    if not body:
        raise AbawError(f"{path}: no prediction rows after the header (expected one row per validation item)")
    for index, row in enumerate(body):
        if len(row) != width:
            raise AbawError(f"{path}: line {index + 2}: expected {width} fields, found {len(row)}")
    ids = [row[0] for row in body]
    groups = [row[1] for row in body] if grouped else None
    cells = [row[1 + grouped:] for row in body]
    try:
        values = np.array(cells, dtype=str).astype(np.float64)
    except ValueError:
        values = None
    if values is None or not np.isfinite(values).all():
        _raise_first_bad_number(path, cells, predicted + [LABEL_PREFIX + name for name in labelled])
    seen: set[str] = set()
    for index, row_id in enumerate(ids):
        if row_id in seen:
            raise AbawError(f"{path}: line {index + 2}: id {_quote(row_id)} appears more than once")
        seen.add(row_id)
    split = len(predicted)
    return Predictions(path, Table(ids, values[:, :split], tuple(predicted), groups),
                       Table(ids, values[:, split:], tuple(labelled), groups))


def _raise_first_bad_number(path: Path, cells: list[list[str]], names: list[str]) -> None:
    for index, row in enumerate(cells):
        for name, text in zip(names, row, strict=True):
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise AbawError(f"{path}: line {index + 2}: field {name!r}: expected a finite number, "
                                f"found {_quote(text)}")
