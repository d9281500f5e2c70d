"""The shapes every task shares: tables of rows keyed by id, split manifests, dataset items, and the `Task` contract
itself (what a task declares for the tools, its submission formats and label figure, is in `harness.tasks.spec`).

A `Table` is the one currency between readers, systems, submission writers and scorers: labels, predictions and a
parsed submission are all tables whose `ids` are the rows a submission must contain (EMI: clip ids; BAH frame level:
frame paths; BAH video level: video ids; VA/Expr: image locations) and whose `values` hold one column per target.

A task is one module of this package that registers a `Task` instance (`TASKS.register`); the registry finds it by a
package scan. The task declares everything the engine and the tools ask of it: its `SubmissionFormat`s (the generic
reader, writer and validator in `harness.submission` are driven by these alone), the demo dataset that stands in
for its release (`dataset`: the generator is `harness/demo/<dataset>.py`), its reader (which also says where it
looks for reference rows), its label figure and a plausible example prediction. Adding a task is that module, its
split manifest in `harness/splits/` and its demo generator.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from abaw_bench.harness.metrics.result import MetricResult
from abaw_bench.harness.tasks.spec import LabelFigure, SubmissionFormat

SPLITS = ("train", "val", "test")


@dataclass
class Table:
    """Rows keyed by `ids`; `values` is (len(ids), len(columns)); `groups` names each row's video for frame rows."""

    ids: list[str]
    values: np.ndarray
    columns: tuple[str, ...]
    groups: list[str] | None = None

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape != (len(self.ids), len(self.columns)):
            raise ValueError(
                f"Table values have shape {self.values.shape}, expected ({len(self.ids)}, {len(self.columns)})"
            )
        if self.groups is not None and len(self.groups) != len(self.ids):
            raise ValueError(f"Table has {len(self.groups)} groups for {len(self.ids)} rows")

    def __len__(self) -> int:
        return len(self.ids)

    def reindex(self, ids: list[str]) -> Table:
        """The rows of `ids`, in that order (KeyError names the first id that is missing)."""
        position = {row_id: i for i, row_id in enumerate(self.ids)}
        order = np.fromiter((position[row_id] for row_id in ids), dtype=np.int64, count=len(ids))
        groups = [self.groups[i] for i in order] if self.groups is not None else None
        return Table(list(ids), self.values[order], self.columns, groups)


@dataclass(frozen=True)
class Manifest:
    """The fixed split → item ids of a task's dataset. Its sha256 is recorded in every result."""

    task: str
    version: str
    splits: dict[str, tuple[str, ...]]
    source: str = "repository"  # "repository" (shipped file) or "data-root" (derived from the release's split files)

    def canonical_json(self) -> str:
        body = {"task": self.task, "version": self.version, "splits": {k: list(v) for k, v in self.splits.items()}}
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Item:
    """One unit a system consumes: a clip (EMI) or a video (BAH, Aff-Wild2), with paths to its media by kind.

    Media kinds used across tasks: "audio", "video", "faces" (a folder of face crops), "transcript" (JSON with
    word timestamps), "vit" / "wav2vec2" (the organisers' feature pickles). Absent kinds are simply not in `media`.
    """

    id: str
    split: str
    media: dict[str, Path] = field(default_factory=dict)
    group: str | None = None


class DatasetReader(ABC):
    """Reads one task's official dataset layout under `root` (a real release or a generated demo)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @abstractmethod
    def manifest(self) -> Manifest:
        """The split manifest that governs this root (shipped in the repository, or derived from its split files)."""

    @abstractmethod
    def check(self) -> list[str]:
        """Disagreements between the root and the manifest (missing or extra items); empty when they agree."""

    @abstractmethod
    def items(self, split: str) -> list[Item]:
        """The split's items in manifest order."""

    @abstractmethod
    def labels(self, split: str, level: str | None = None) -> Table:
        """The split's labels at submission-row granularity; AbawError for an unlabelled split (test).

        `level` picks the granularity for tasks with several (BAH: "frame" or "video"); None is the task's default.
        """

    @abstractmethod
    def reference_rows(self, split: str, level: str | None = None) -> list[str]:
        """The row ids a submission for `split` must contain, in the order the official format fixes."""

    @abstractmethod
    def reference_source(self, split: str, level: str | None = None) -> str:
        """Where `reference_rows(split, level)` looks under the root, in words: the end of the error about a root that
        gives no rows ("looked for ..."), which must name the files a user can check."""


class Task(ABC):
    """A benchmark task: label schema, metric, submission format(s), the reader for its official layout, the demo
    dataset standing in for it, and how its labels are drawn.

    The class attributes are the task's facts, defined here once and read by the engine, the metrics' callers, the
    submission tools and the report: what a label row holds, what marks an invalid label, whether rows are clips or
    frames.
    """

    name: str
    title: str
    columns: tuple[str, ...]  # label columns of a row
    headline_metric: str
    higher_is_better: bool = True
    formats: tuple[SubmissionFormat, ...]  # one per submission level; the first is the default level
    dataset: str  # the dataset the task reads; its demo generator is harness/demo/<dataset>.py (VA and Expr share one)
    label_figure: LabelFigure
    column_noun: str = "dimension"  # what one label column is, in words ("per emotion"); classes are "class"
    class_names: tuple[str, ...] | None = None  # classification: the classes in index order; None = regression
    invalid_label: float | None = None  # a label value that marks a row to leave out (Aff-Wild2: VA -5, Expr -1)
    unit: str = "clip"  # "clip": one row per item; "frame": one row per frame of a video item
    frame_base: int = 0  # frame tasks: the number of a video's first frame in row ids (Aff-Wild2 1, BAH 0)
    fps: float | None = None  # frame tasks: frames per second where the release does not give it per video

    @property
    def levels(self) -> tuple[str, ...]:
        """The submission granularities, the default first: one per format."""
        return tuple(fmt.level for fmt in self.formats)

    @property
    def output_width(self) -> int:
        """Model outputs per row: one logit for a binary task, one per class for a multi-class one, else columns."""
        if self.class_names is None:
            return len(self.columns)
        return 1 if len(self.class_names) == 2 else len(self.class_names)

    def parse_frame_id(self, row_id: str) -> tuple[str, int]:
        """Frame tasks: (video id, 0-based position on the video's frame grid) of a row id; ValueError if malformed."""
        raise NotImplementedError(f"task {self.name!r} has clip rows, not frame rows")

    def level_votes(self, lines: list[str]) -> dict[str, int]:
        """How many of a submission file's `lines` are non-blank, by the level each looks like (the validator detects
        a file's level by majority). A task with one level takes every line for it; a task with several overrides
        this with what tells its levels' rows apart."""
        if len(self.levels) > 1:
            raise NotImplementedError(f"task {self.name!r} has levels {', '.join(self.levels)} and must say how a "
                                      "line votes for one")
        return {self.levels[0]: non_blank_lines(lines)}

    def example_predictions(self, level: str, rows: list[str], rng: np.random.Generator) -> Table:
        """Seeded predictions for `rows` that look like a real submission at `level` (for the example submissions):
        uniform over each column's range in the format's first layout, whole numbers for integer columns, rounded
        to 4 decimals."""
        layout = next(fmt for fmt in self.formats if fmt.level == level).default_layout
        names = tuple(column.name for column in layout)
        low, high = np.array([column.low for column in layout]), np.array([column.high for column in layout])
        shape = (len(rows), len(layout))
        if all(column.integer for column in layout):
            values = rng.integers(low.astype(np.int64), high.astype(np.int64) + 1, size=shape).astype(np.float64)
        else:
            values = np.round(low + (high - low) * rng.random(shape), 4)
        return Table(list(rows), values, names)

    @abstractmethod
    def reader(self, root: Path) -> DatasetReader: ...

    @abstractmethod
    def score(self, predictions: Table, labels: Table, level: str | None = None) -> MetricResult:
        """Score aligned predictions (same ids, same order as `labels`) with the task's reference metric."""


def non_blank_lines(lines: list[str]) -> int:
    """How many of `lines` hold more than blanks."""
    return len(lines) - lines.count("") - sum(map(str.isspace, lines))
