"""The papers' result tables (`leaderboard/tables/*.json`) and their schema check.

The tables are the second place the papers' numbers live (the first is `Variant.paper` in the system files); keeping
them as data lets `abaw-bench leaderboard` print them and put a run's figure beside the row it reproduces. A table
file is hand-edited, so every field is checked and a mistake is reported with the file and the field at fault.

Table file:
    name            the file's stem, e.g. "hallmen2024-emi"
    paper           the paper's short citation key: hallmen2024, hallmen2025 or wen2024 (a system's name when the
                    paper is the system's own)
    citation        the paper's full citation: authors, "title", venue, year
    source          where in the paper, e.g. "Table 1"
    task            harness task name (emi, bah, va, expr)
    metric          the paper's metric, in words
    harness_metric  the `MetricResult.metric` name of the same metric, so a run's value is only placed beside a
                    figure of the same metric
    decimals        digits the paper prints
    columns         [{"key": "val" | "test", "label": the paper's column header}]
    notes           [str]: how the transcription reads the paper where it is not literal
    rows            [{"label": the row label, "figures": {column key: number or null ("–")},
                      "system"?, "variant"?: the system and variant of this repo that reproduce the row}]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.jsonio import BadJson, read_json

TABLES_DIR = Path(__file__).resolve().parent / "tables"
SPLIT_KEYS = ("val", "test")
TABLE_KEYS = {"name", "paper", "citation", "source", "task", "metric", "harness_metric", "decimals", "columns", "notes",
              "rows"}
ROW_KEYS = {"label", "figures", "system", "variant"}


@dataclass(frozen=True)
class Column:
    key: str  # "val" | "test": the split the figure is measured on (the same keys as `Variant.paper`)
    label: str  # the paper's header, e.g. "ρ_VAL"


@dataclass(frozen=True)
class Row:
    label: str
    figures: Mapping[str, float | None]  # column key -> figure; None where the paper prints "–"
    system: str | None = None
    variant: str | None = None

    @property
    def linked(self) -> bool:
        return self.system is not None


@dataclass(frozen=True)
class PaperTable:
    name: str
    paper: str
    citation: str
    source: str
    task: str
    metric: str
    harness_metric: str
    decimals: int
    columns: tuple[Column, ...]
    notes: tuple[str, ...]
    rows: tuple[Row, ...]
    path: Path

    @property
    def reference(self) -> str:
        """How a reader of the papers finds the table: "hallmen2024, Table 1"."""
        return f"{self.paper}, {self.source}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "paper": self.paper, "citation": self.citation, "source": self.source,
            "task": self.task,
            "metric": self.metric, "harness_metric": self.harness_metric, "decimals": self.decimals,
            "columns": [{"key": column.key, "label": column.label} for column in self.columns],
            "notes": list(self.notes),
            "rows": [{"label": row.label, "figures": dict(row.figures), "system": row.system, "variant": row.variant}
                     for row in self.rows],
        }


class _Checker:
    """Field checks that name the file and the field path in their error."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, field: str, expected: str, found: Any) -> AbawError:
        return AbawError(f"{self.path}: {field}: expected {expected}, found {found!r}")

    def keys(self, field: str, value: Mapping[str, Any], required: set[str], allowed: set[str]) -> None:
        missing = sorted(required - value.keys())
        if missing:
            raise AbawError(f"{self.path}: {field}: missing field {missing[0]!r}")
        unknown = sorted(value.keys() - allowed)
        if unknown:
            raise self.fail(f"{field}.{unknown[0]}", f"only the fields {', '.join(sorted(allowed))}", unknown[0])

    def object(self, field: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(field, "an object", value)
        return value

    def text(self, field: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(field, "a non-empty string", value)
        return value

    def array(self, field: str, value: Any) -> list[Any]:
        if not isinstance(value, list) or not value:
            raise self.fail(field, "a non-empty list", value)
        return value

    def figure(self, field: str, value: Any) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not -1.0 <= value <= 1.0:
            raise self.fail(field, "a number in [-1, 1] or null (the paper's '–')", value)
        return float(value)


def parse_table(document: Any, path: Path) -> PaperTable:
    """Check a decoded table file against the schema above; the first problem raises AbawError."""
    check = _Checker(path)
    document = check.object("(top level)", document)
    check.keys("(top level)", document, TABLE_KEYS - {"notes"}, TABLE_KEYS)
    name = check.text("name", document["name"])
    if name != path.stem:
        raise check.fail("name", f"the file's stem {path.stem!r}", name)
    paper = check.text("paper", document["paper"])
    if not name.startswith(f"{paper}-"):
        raise check.fail("paper", f"the start of the table's name {name!r} (names are <paper>-<task>)", paper)
    decimals = document["decimals"]
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 1 <= decimals <= 6:
        raise check.fail("decimals", "an integer from 1 to 6", decimals)

    columns = []
    for index, raw in enumerate(check.array("columns", document["columns"])):
        field = f"columns[{index}]"
        raw = check.object(field, raw)
        check.keys(field, raw, {"key", "label"}, {"key", "label"})
        if raw["key"] not in SPLIT_KEYS:
            raise check.fail(f"{field}.key", " or ".join(repr(key) for key in SPLIT_KEYS), raw["key"])
        if any(column.key == raw["key"] for column in columns):
            raise check.fail(f"{field}.key", "a key not used by an earlier column", raw["key"])
        columns.append(Column(key=raw["key"], label=check.text(f"{field}.label", raw["label"])))
    column_keys = [column.key for column in columns]

    notes = document.get("notes", [])
    if not isinstance(notes, list):
        raise check.fail("notes", "a list of strings", notes)
    notes = [check.text(f"notes[{index}]", note) for index, note in enumerate(notes)]

    rows: list[Row] = []
    for index, raw in enumerate(check.array("rows", document["rows"])):
        field = f"rows[{index}]"
        raw = check.object(field, raw)
        check.keys(field, raw, {"label", "figures"}, ROW_KEYS)
        label = check.text(f"{field}.label", raw["label"])
        if any(row.label == label for row in rows):
            raise check.fail(f"{field}.label", "a label not used by an earlier row", label)
        figures_raw = check.object(f"{field}.figures", raw["figures"])
        if sorted(figures_raw) != sorted(column_keys):
            raise check.fail(f"{field}.figures", f"exactly the column keys {column_keys}", sorted(figures_raw))
        figures = {key: check.figure(f"{field}.figures.{key}", figures_raw[key]) for key in column_keys}
        if ("system" in raw) != ("variant" in raw):
            raise AbawError(f"{path}: {field}: 'system' and 'variant' go together (a row names both or neither)")
        system = check.text(f"{field}.system", raw["system"]) if "system" in raw else None
        variant = check.text(f"{field}.variant", raw["variant"]) if "variant" in raw else None
        rows.append(Row(label=label, figures=figures, system=system, variant=variant))

    return PaperTable(
        name=name, paper=paper, citation=check.text("citation", document["citation"]),
        source=check.text("source", document["source"]), task=check.text("task", document["task"]),
        metric=check.text("metric", document["metric"]),
        harness_metric=check.text("harness_metric", document["harness_metric"]), decimals=decimals,
        columns=tuple(columns), notes=tuple(notes), rows=tuple(rows), path=path,
    )


def load_table(path: Path) -> PaperTable:
    try:
        document = read_json(path)
    except BadJson as error:
        raise AbawError(str(error)) from None
    return parse_table(document, path)


def load_tables(directory: Path = TABLES_DIR) -> list[PaperTable]:
    """Every table in `directory`, in the order of their papers, then table numbers."""
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise AbawError(f"{directory}: no table files (*.json); the package data is missing")
    return sorted((load_table(path) for path in paths), key=lambda table: (table.paper, table.source, table.name))
