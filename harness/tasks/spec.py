"""What a task declares for the tools around it: its submission formats (`SubmissionFormat`, one per level, from
which the generic reader, writer and validator in `harness.submission` work) and how the report draws its labels
(`LabelFigure`). Plain data: no task is named here."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

DEFAULT_LEVEL = "default"  # the one submission level of a task that has one granularity
PROBABILITY_TOLERANCE = 1e-6  # how far p0 + p1 of a probability-pair layout (p0, p1, pred) may be from 1


@dataclass(frozen=True)
class Column:
    """One value column: `integer` columns hold whole numbers (class indices, 0/1 predictions)."""

    name: str
    low: float
    high: float
    integer: bool = False

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        return f"{kind} in [{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class SubmissionFormat:
    """Everything the generic reader/writer/validator (`harness.submission`) needs to know about one submission
    format: an optional header line, the accepted layouts of value columns after the row id (BAH video level has
    two), whether the row order is fixed by the reference list, and how ids are normalised before comparison. Each
    task declares its formats (`Task.formats`); choices the official texts leave open are documented on the spec
    they concern."""

    task: str
    level: str
    title: str
    id_name: str  # what the id column is called in messages (and in the header, where there is one)
    header: tuple[str, ...] | None  # the exact header fields; None for headerless formats
    layouts: tuple[tuple[Column, ...], ...]  # accepted value columns after the id; the first is the one written
    ordered: bool  # rows must follow the reference order
    normalise_id: Callable[[str], str] | None = None  # maps an accepted spelling to the canonical id
    # given many ids, True when none of them needs normalise_id (a 335k-row file's fast path)
    all_canonical: Callable[[list[str]], bool] | None = None
    id_pattern: re.Pattern[str] | None = None  # ids that do not match get an id-format problem
    id_rule: str = "a non-empty id"
    # maps a canonical id to the spelling the organisers' validator compares in full (None: the canonical id is it)
    official_id: Callable[[str], str] | None = None
    template_values: tuple[float, ...] = ()  # the constant row `template` writes (for the first layout)
    notes: str = ""

    @property
    def default_layout(self) -> tuple[Column, ...]:
        return self.layouts[0]

    def layout_for_width(self, n_values: int) -> tuple[Column, ...] | None:
        return next((layout for layout in self.layouts if len(layout) == n_values), None)

    def describe_layouts(self) -> str:
        return " or ".join(",".join((self.id_name, *(c.name for c in layout))) for layout in self.layouts)

    def canonical_id(self, raw: str) -> str:
        return self.normalise_id(raw) if self.normalise_id is not None else raw

    def written_id(self, canonical: str) -> str:
        """The id as a file must spell it for the organisers' own validator (what the writer writes)."""
        return self.official_id(canonical) if self.official_id is not None else canonical

    def canonical_ids(self, raw: list[str]) -> list[str]:
        """`canonical_id` of each id."""
        if self.normalise_id is None or (self.all_canonical is not None and self.all_canonical(raw)):
            return raw
        return list(map(self.normalise_id, raw))


LabelPlot = Literal["boxes", "positive-rate", "joint-histogram", "class-shares"]


@dataclass(frozen=True)
class LabelFigure:
    """How the report draws a task's train/val label distribution (`leaderboard.figures` has one drawing per kind):
    "boxes" one box per label column, "positive-rate" the positive share of a binary label per split,
    "joint-histogram" a 2-D histogram of the two label columns over the default submission layout's ranges,
    "class-shares" each class's share of the valid rows. Rows holding the task's `invalid_label` are left out."""

    kind: LabelPlot
    title: str
    axis: str = ""  # the value axis's label (the joint histogram names its axes after the columns)
