"""The runs placed on a paper row, summarised: mean ± sd over seeds, a bootstrap interval, and Δ to the paper.

Runs are summarised apart by their marks: the reproductions (real data, published encoder weights) form one group,
and each kind of harness check (DEMO data, RANDOM-weight encoders) its own. Only the reproductions get a Δ: a demo
figure says how the harness behaves on synthetic data, not how close the paper was reproduced.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from abaw_bench.harness.errors import AbawError
from abaw_bench.leaderboard import bootstrap
from abaw_bench.leaderboard.board import Board
from abaw_bench.leaderboard.predictions import Predictions, read_predictions
from abaw_bench.leaderboard.runs import PREDICTIONS_NAME, RunResult
from abaw_bench.leaderboard.tables import PaperTable

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BootstrapSettings:
    resamples: int = bootstrap.DEFAULT_RESAMPLES  # 0: no intervals
    seed: int = bootstrap.DEFAULT_SEED


@dataclass(frozen=True)
class Aggregate:
    """Runs of one row with the same marks."""

    runs: tuple[RunResult, ...]
    marks: tuple[str, ...]  # () for reproductions
    mean: float | None
    sd: float | None  # sample standard deviation (n - 1); None below two runs
    interval: tuple[float, float] | None  # 95 % bootstrap interval of the mean over the runs
    run_intervals: tuple[tuple[float, float] | None, ...]  # each run's own interval, in `runs` order
    units: str | None  # what was resampled, e.g. "80 clips" or "12 videos"
    note: str | None  # why there is no interval
    delta: float | None  # mean − the row's paper validation figure; reproductions only

    @property
    def values(self) -> list[float]:
        return [run.value for run in self.runs if run.value is not None]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def seeds(self) -> list[int | None]:
        return [run.seed for run in self.runs]

    @property
    def is_reproduction(self) -> bool:
        return not self.marks

    @property
    def kind(self) -> str:
        """'real' for reproductions, else the marks, e.g. 'DEMO, RANDOM: wav2vec2-vad'."""
        return ", ".join(self.marks) if self.marks else "real"

    def to_json(self, resamples: int, seed: int) -> dict[str, Any]:
        return {
            "reproduction": self.is_reproduction, "marks": list(self.marks), "n": self.n, "seeds": self.seeds,
            "mean": self.mean, "sd": self.sd, "delta": self.delta,
            "ci95": None if self.interval is None else list(self.interval),
            "bootstrap": {"resamples": resamples, "seed": seed, "units": self.units, "note": self.note},
            "runs": [run.to_json() | {"ci95": None if spread is None else list(spread)}
                     for run, spread in zip(self.runs, self.run_intervals, strict=True)],
        }


@dataclass
class Summary:
    settings: BootstrapSettings
    by_row: dict[tuple[str, int], list[Aggregate]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # why some intervals are missing, for the user

    def aggregates(self, table: PaperTable, index: int) -> list[Aggregate]:
        return self.by_row.get((table.name, index), [])


def _item_name(task: str) -> str:
    return "clips" if task == "emi" else "items"


def _aligned_predictions(runs: list[RunResult]) -> tuple[list[Predictions] | None, str | None]:
    """Every run's predictions, row-aligned to the first run's; (None, why) when they cannot be."""
    loaded: list[Predictions] = []
    for run in runs:
        path = run.run_dir / PREDICTIONS_NAME
        if not path.is_file():
            return None, f"no {PREDICTIONS_NAME} in {run.run_dir}"
        try:
            loaded.append(read_predictions(path))
        except AbawError as error:
            return None, str(error)
    first = loaded[0]
    aligned = [first]
    for other in loaded[1:]:
        if set(other.labels.ids) != set(first.labels.ids):
            return None, f"{other.path} and {first.path} hold different validation items: runs on different splits"
        other = other.reindex(first.labels.ids)
        if not np.array_equal(other.labels.values, first.labels.values):
            return None, f"{other.path} and {first.path} hold different validation labels: runs on different data"
        aligned.append(other)
    return aligned, None


def summarise_runs(runs: list[RunResult], settings: BootstrapSettings, progress: Progress | None = None) -> Aggregate:
    """Mean, sd and bootstrap interval of runs that share their marks (and so are summarised together); no Δ yet."""
    values = [run.value for run in runs if run.value is not None]
    mean = statistics.fmean(values) if values else None
    sd = statistics.stdev(values) if len(values) >= 2 else None
    scored = [run for run in runs if run.value is not None]
    interval, run_intervals, units, note = None, {}, None, None
    if settings.resamples <= 0:
        note = "bootstrap off"
    elif not scored:
        note = "no run has a validation figure"
    else:
        predictions, note = _aligned_predictions(scored)
        if predictions is not None:
            task = scored[0].task
            try:
                scorers = [bootstrap.task_statistic(task, item, run.metric)
                           for item, run in zip(predictions, scored, strict=True)]
            except AbawError as error:
                note = str(error)
            else:
                resampled = bootstrap.units_of(predictions[0].groups, len(predictions[0].labels), _item_name(task))
                units = f"{resampled.count} {resampled.name}"
                if progress is not None:
                    progress(f"bootstrap {scored[0].system}/{task}/{scored[0].variant} "
                             f"({len(scored)} run(s), {units}, {settings.resamples} resamples)")
                values_b = bootstrap.replicate(scorers, resampled, settings.resamples, settings.seed)
                interval = bootstrap.interval(values_b.mean(axis=1))
                run_intervals = {run.path: bootstrap.interval(values_b[:, k]) for k, run in enumerate(scored)}
                if interval is None:
                    note = "the metric is undefined on most resamples"
    return Aggregate(runs=tuple(runs), marks=runs[0].marks, mean=mean, sd=sd, interval=interval,
                     run_intervals=tuple(run_intervals.get(run.path) for run in runs), units=units, note=note,
                     delta=None)


def summarise(board: Board, settings: BootstrapSettings, progress: Progress | None = None) -> Summary:
    """Aggregates of every shown row's runs; a run set placed on two rows (two papers' tables) is bootstrapped once."""
    summary = Summary(settings)
    done: dict[tuple[Path, ...], Aggregate] = {}
    for table in board.tables:
        for index, row in enumerate(table.rows):
            paper_val = row.figures.get("val")  # runs are scored on the validation split
            groups: dict[tuple[str, ...], list[RunResult]] = {}
            for run in board.runs_for(table, index):
                groups.setdefault(run.marks, []).append(run)
            aggregates = []
            for marks in sorted(groups, key=lambda marks: (bool(marks), marks)):  # reproductions first
                key = tuple(run.path for run in groups[marks])
                if key not in done:
                    done[key] = summarise_runs(groups[marks], settings, progress)
                    if done[key].note is not None and done[key].note != "bootstrap off":
                        summary.notes.append(f"{table.name} {row.label!r} ({done[key].kind}): no interval: "
                                             f"{done[key].note}")
                aggregate = done[key]
                if aggregate.is_reproduction and aggregate.mean is not None and paper_val is not None:
                    aggregate = replace(aggregate, delta=aggregate.mean - paper_val)  # to this row's figure
                aggregates.append(aggregate)
            if aggregates:
                summary.by_row[(table.name, index)] = aggregates
    return summary
