"""The shapes every task shares: tables of rows keyed by id, split manifests, dataset items, metric results.

A `Table` is the one currency between readers, systems, submission writers and scorers: labels, predictions and a
parsed submission are all tables whose `ids` are the rows a submission must contain (EMI: clip ids; BAH frame level:
frame paths; BAH video level: video ids; VA/Expr: image locations) and whose `values` hold one column per target.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from abaw_bench.harness.metrics.result import MetricResult

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


class Task(ABC):
    """A benchmark task: label schema, metric, submission format(s) and the reader for its official layout.

    The class attributes are the task's facts, defined here once and read by the engine, the metrics' callers and the
    submission formats: what a label row holds, what marks an invalid label, whether rows are clips or frames.
    """

    name: str
    title: str
    columns: tuple[str, ...]  # label columns of a row
    headline_metric: str
    higher_is_better: bool = True
    levels: tuple[str, ...] = ("default",)  # submission granularities; the first is the default
    class_names: tuple[str, ...] | None = None  # classification: the classes in index order; None = regression
    invalid_label: float | None = None  # a label value that marks a row to leave out (Aff-Wild2: VA -5, Expr -1)
    unit: str = "clip"  # "clip": one row per item; "frame": one row per frame of a video item
    frame_base: int = 0  # frame tasks: the number of a video's first frame in row ids (Aff-Wild2 1, BAH 0)
    fps: float | None = None  # frame tasks: frames per second where the release does not give it per video

    @property
    def output_width(self) -> int:
        """Model outputs per row: one logit for a binary task, one per class for a multi-class one, else columns."""
        if self.class_names is None:
            return len(self.columns)
        return 1 if len(self.class_names) == 2 else len(self.class_names)

    def parse_frame_id(self, row_id: str) -> tuple[str, int]:
        """Frame tasks: (video id, 0-based position on the video's frame grid) of a row id; ValueError if malformed."""
        raise NotImplementedError(f"task {self.name!r} has clip rows, not frame rows")

    @abstractmethod
    def reader(self, root: Path) -> DatasetReader: ...

    @abstractmethod
    def score(self, predictions: Table, labels: Table, level: str | None = None) -> MetricResult:
        """Score aligned predictions (same ids, same order as `labels`) with the task's reference metric."""
