"""Bootstrap confidence intervals over validation items, and the paired difference of two runs (numpy only).

Why resample units rather than rows: the frames of one video are not independent, so a frame-level task resamples
whole videos (the `group` column of val_predictions.csv) and a clip task resamples clips. Every resample is scored
with the task's reference metric (`Task.score`), so an interval describes exactly the figure the leaderboard shows.

Several runs on the same split are resampled *together* (the same units in every run): the spread of the seed mean
then reflects which items happened to be in the validation set, with the seeds held fixed; and a paired comparison
of two runs cancels the items both find easy or hard. Resamples are drawn from `numpy.random.default_rng(seed)`, so
a given seed gives the same interval on every machine. Intervals are percentile intervals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.tasks import get_task
from abaw_bench.harness.tasks.base import Table
from abaw_bench.leaderboard.predictions import Predictions

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
LEVEL = 0.95

Statistic = Callable[[np.ndarray], float]  # row indices of one resample -> a metric value


@dataclass(frozen=True)
class Units:
    """The resampling units of a validation set, stored as rows grouped by unit (CSR: `order`, `starts`, `sizes`)."""

    order: np.ndarray  # row indices, unit after unit
    starts: np.ndarray  # where each unit's rows begin in `order`
    sizes: np.ndarray  # rows per unit
    name: str  # what a unit is, for messages: "clips", "videos", "items"

    @property
    def count(self) -> int:
        return len(self.sizes)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """Row indices of one resample: `count` units drawn with replacement, each contributing all its rows."""
        picks = rng.integers(0, self.count, size=self.count)
        sizes = self.sizes[picks]
        if np.all(self.sizes == 1):
            return self.order[picks]
        offsets = np.repeat(self.starts[picks] - np.cumsum(sizes) + sizes, sizes)
        return self.order[offsets + np.arange(int(sizes.sum()))]


def row_name(unit: str) -> str:
    """What an ungrouped row of a task is called in messages, from the task's unit ("clip" or "frame")."""
    return "clips" if unit == "clip" else "items"


def units_of(groups: Sequence[str] | None, n_rows: int, item_name: str = "items") -> Units:
    """One unit per group (video) when rows carry groups, else one per row (called `item_name`)."""
    if groups is None:
        return Units(np.arange(n_rows), np.arange(n_rows), np.ones(n_rows, dtype=np.int64), item_name)
    _, first, codes = np.unique(np.asarray(groups, dtype=object), return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))  # units in order of first appearance, so draws do not depend on names
    codes = rank[codes]
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes, minlength=len(first))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return Units(order, starts, sizes, "videos")


def _take(table: Table, rows: np.ndarray, ids: list[str]) -> Table:
    """The rows of a resample (a unit drawn twice appears twice); groups are dropped, as no scorer reads them."""
    return Table(ids, table.values[rows], table.columns)


def task_statistic(task: str, predictions: Predictions, metric: str | None = None) -> Statistic:
    """The task's reference metric on a subset of rows; `metric` (the name a run reported) is checked once."""
    scorer = get_task(task)
    ids = np.asarray(predictions.labels.ids, dtype=object)

    def statistic(rows: np.ndarray) -> float:
        subset_ids = ids[rows].tolist()
        result = scorer.score(_take(predictions.predictions, rows, subset_ids), _take(predictions.labels, rows,
                                                                                      subset_ids))
        return float(result.value)

    if metric is not None:
        reported = scorer.score(predictions.predictions, predictions.labels).metric
        if reported != metric:
            raise AbawError(f"{predictions.path}: scored as {reported!r} by task {task!r}, but the run reports "
                            f"{metric!r}")
    return statistic


def replicate(statistics: Sequence[Statistic], units: Units, resamples: int = DEFAULT_RESAMPLES,
              seed: int = DEFAULT_SEED) -> np.ndarray:
    """(resamples, len(statistics)) values, every statistic scored on the same rows per resample.

    A resample on which a metric is undefined (e.g. every label of a dimension invalid) gives NaN there.
    """
    rng = np.random.default_rng(seed)
    values = np.full((resamples, len(statistics)), np.nan)
    for b in range(resamples):
        rows = units.draw(rng)
        for k, statistic in enumerate(statistics):
            try:
                values[b, k] = statistic(rows)
            except AbawError:
                continue
    return values


def interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float] | None:
    """The percentile interval of the defined values; None when fewer than half the resamples are defined."""
    defined = values[np.isfinite(values)]
    if len(defined) < max(1, len(values) // 2):
        return None
    low, high = np.percentile(defined, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


@dataclass(frozen=True)
class Comparison:
    """Paired bootstrap of run A against run B on the same validation items."""

    value_a: float
    value_b: float
    difference: float  # A - B on the full validation set
    interval: tuple[float, float] | None  # of A - B
    a_better_share: float  # share of the defined resamples in which A beats B (ties count half)
    resamples: int
    undefined: int  # resamples on which either metric was undefined
    units: int
    unit_name: str
    seed: int


def paired_difference(a: Statistic, b: Statistic, units: Units, *, higher_is_better: bool = True,
                      resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> Comparison:
    everything = np.arange(len(units.order))
    value_a, value_b = a(everything), b(everything)
    values = replicate([a, b], units, resamples, seed)
    defined = np.isfinite(values).all(axis=1)
    difference = values[defined, 0] - values[defined, 1]
    signed = difference if higher_is_better else -difference
    share = float((np.sum(signed > 0) + 0.5 * np.sum(signed == 0)) / len(signed)) if len(signed) else float("nan")
    spread = interval(np.where(defined, values[:, 0] - values[:, 1], np.nan))
    return Comparison(value_a=value_a, value_b=value_b, difference=value_a - value_b, interval=spread,
                      a_better_share=share, resamples=resamples, undefined=int((~defined).sum()),
                      units=units.count, unit_name=units.name, seed=seed)
