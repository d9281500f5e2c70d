"""The runs placed on a paper row, summarised: mean ± sd over seeds, a bootstrap interval, and Δ to the paper.

Runs are summarised apart by their marks: the reproductions (real data, published encoder weights) form one group,
and each kind of harness check (DEMO data, RANDOM-weight encoders) its own. Only the reproductions get a Δ: a demo
figure says how the harness behaves on synthetic data, not how close the paper was reproduced.

Within one kind, runs are pooled only when they share their configuration (`configs.config_hash`: everything but the
seed), so a spread is a spread over seeds. Runs of one row that differ in anything else are summarised as separate
lines of that row, each naming the fields it differs in (and a note lists them), rather than refused: a runs tree
holding a short trial beside the full schedule is normal, and the user should see both. Two runs of one
configuration with the same seed are counted once (the first in path order), with a note naming both directories.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.results import Results
from abaw_bench.harness.tasks import get_task
from abaw_bench.leaderboard import bootstrap
from abaw_bench.leaderboard.board import Board
from abaw_bench.leaderboard.configs import differing_fields, run_config, run_config_hash
from abaw_bench.leaderboard.predictions import Predictions, read_predictions
from abaw_bench.leaderboard.runs import PREDICTIONS_NAME, run_summary
from abaw_bench.leaderboard.tables import PaperTable

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BootstrapSettings:
    resamples: int = bootstrap.DEFAULT_RESAMPLES  # 0: no intervals
    seed: int = bootstrap.DEFAULT_SEED


@dataclass(frozen=True)
class Aggregate:
    """Runs of one row with the same marks."""

    runs: tuple[Results, ...]
    marks: tuple[str, ...]  # () for reproductions
    mean: float | None
    sd: float | None  # sample standard deviation (n - 1); None below two runs
    interval: tuple[float, float] | None  # 95 % bootstrap interval of the mean over the runs
    run_intervals: tuple[tuple[float, float] | None, ...]  # each run's own interval, in `runs` order
    units: str | None  # what was resampled, e.g. "80 clips" or "12 videos"
    note: str | None  # why there is no interval
    delta: float | None  # mean − the row's paper validation figure; reproductions only
    differs: tuple[tuple[str, str], ...] = ()  # (field, this group's value) where the row's groups of this kind differ

    @property
    def config_hash(self) -> str:
        return run_config_hash(self.runs[0])

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

    @property
    def label(self) -> str:
        """The kind, and where the row holds several configurations of it, this group's hash and differing values."""
        if not self.differs:
            return self.kind
        values = ", ".join(f"{name}={value}" for name, value in self.differs)
        return f"{self.kind} [{self.config_hash[:8]}: {values}]"

    def to_json(self, resamples: int, seed: int) -> dict[str, Any]:
        return {
            "reproduction": self.is_reproduction, "marks": list(self.marks), "config_hash": self.config_hash,
            "config_differs": dict(self.differs), "n": self.n, "seeds": self.seeds,
            "mean": self.mean, "sd": self.sd, "delta": self.delta,
            "ci95": None if self.interval is None else list(self.interval),
            "bootstrap": {"resamples": resamples, "seed": seed, "units": self.units, "note": self.note},
            "runs": [run_summary(run) | {"ci95": None if spread is None else list(spread)}
                     for run, spread in zip(self.runs, self.run_intervals, strict=True)],
        }


@dataclass
class Summary:
    settings: BootstrapSettings
    by_row: dict[tuple[str, int], list[Aggregate]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # why some intervals are missing, for the user

    def aggregates(self, table: PaperTable, index: int) -> list[Aggregate]:
        return self.by_row.get((table.name, index), [])


def _aligned_predictions(runs: list[Results]) -> tuple[list[Predictions] | None, str | None]:
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


def summarise_runs(runs: list[Results], settings: BootstrapSettings, progress: Progress | None = None) -> Aggregate:
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
                resampled = bootstrap.units_of(predictions[0].groups, len(predictions[0].labels),
                                               bootstrap.row_name(get_task(task).unit))
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


def distinct_seeds(runs: list[Results]) -> tuple[list[Results], list[str]]:
    """`runs` (one configuration) with each seed once, the first in path order; a note per dropped duplicate. A run
    whose seed is unknown is kept: it is no evidence of a duplicate."""
    kept: list[Results] = []
    first_of_seed: dict[int, Results] = {}
    notes = []
    for run in sorted(runs, key=lambda run: run.path):
        first = first_of_seed.get(run.seed) if run.seed is not None else None
        if first is not None:
            notes.append(f"{first.run_dir} and {run.run_dir} are one configuration ({run_config_hash(run)}) with the "
                         f"same seed {run.seed}: counted once ({first.run_dir})")
            continue
        if run.seed is not None:
            first_of_seed[run.seed] = run
        kept.append(run)
    return kept, notes


def configuration_groups(runs: list[Results]) -> list[tuple[list[Results], tuple[tuple[str, str], ...]]]:
    """The runs of one kind split by configuration, in order of their first run; with each group's values of the
    fields the groups differ in (none when there is one group)."""
    groups: dict[str, list[Results]] = {}
    for run in runs:
        groups.setdefault(run_config_hash(run), []).append(run)
    configurations = [run_config(members[0]) for members in groups.values()]
    names = differing_fields(configurations) if len(groups) > 1 else []
    return [(members, tuple((name, fields.get(name, "(absent)")) for name in names))
            for members, fields in zip(groups.values(), configurations, strict=True)]


def summarise(board: Board, settings: BootstrapSettings, progress: Progress | None = None) -> Summary:
    """Aggregates of every shown row's runs; a run set placed on two rows (two papers' tables) is bootstrapped once."""
    summary = Summary(settings)
    done: dict[tuple[Path, ...], Aggregate] = {}
    for table in board.tables:
        for index, row in enumerate(table.rows):
            paper_val = row.figures.get("val")  # runs are scored on the validation split
            kinds: dict[tuple[str, ...], list[Results]] = {}
            for run in board.runs_for(table, index):
                kinds.setdefault(run.marks, []).append(run)
            aggregates = []
            for marks in sorted(kinds, key=lambda marks: (bool(marks), marks)):  # reproductions first
                groups = configuration_groups(kinds[marks])
                if len(groups) > 1:
                    names = ", ".join(name for name, _ in groups[0][1])
                    summary.notes.append(f"{table.name} {row.label!r} ({', '.join(marks) or 'real'}): "
                                         f"{len(groups)} configurations summarised apart; they differ in {names}")
                for members, differs in groups:
                    members, duplicates = distinct_seeds(members)
                    key = tuple(run.path for run in members)
                    if key not in done:
                        summary.notes.extend(duplicates)
                        done[key] = summarise_runs(members, settings, progress)
                        if done[key].note is not None and done[key].note != "bootstrap off":
                            summary.notes.append(f"{table.name} {row.label!r} ({done[key].kind}): no interval: "
                                                 f"{done[key].note}")
                    aggregate = replace(done[key], differs=differs)
                    if aggregate.is_reproduction and aggregate.mean is not None and paper_val is not None:
                        aggregate = replace(aggregate, delta=aggregate.mean - paper_val)  # to this row's figure
                    aggregates.append(aggregate)
            if aggregates:
                summary.by_row[(table.name, index)] = aggregates
    return summary
