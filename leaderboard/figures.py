"""The report's figures (matplotlib, Agg backend, PNG): no display needed, the same bytes for the same inputs.

Each `*_figure` function returns the matplotlib Figure (so tests can read what is drawn, e.g. the error bars) and
`png_bytes` turns it into the file:
- per paper table, the modality comparison in the style of hallmen2025's Figure 3: grouped bars of the paper's
  figure and the reproduced mean, whose error bar is the 95 % bootstrap interval, one group per row; the DEMO /
  RANDOM harness checks in a panel of their own, without the paper's bars (their figures are not comparable);
- per paper table, the reproduced mean against the paper's figure, with the y = x line across the table's rows;
- per task with a data root, the label distribution as the task declares it (`Task.label_figure`): EMI one box per
  emotion (as hallmen2024's Figure 1), BAH the positive frame rate per split, VA the valence/arousal 2-D histogram,
  Expr the class frequencies;
- per group of runs (one configuration, seeds overlaid): the training curves from `train_log.jsonl` (loss and
  validation metric per epoch, best epoch marked; for BAH, at which threshold the curve was read), the validation
  breakdown from results.json (EMI per emotion, Expr and BAH per class), and from `val_predictions.csv` the Expr
  confusion matrix and the BAH precision-recall curve with the run's decision threshold marked.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from abaw_bench.harness.atomic import write_bytes
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.jsonio import BadJson, iter_jsonl
from abaw_bench.harness.paths import is_demo_root
from abaw_bench.harness.results import Results
from abaw_bench.harness.tasks import get_task
from abaw_bench.harness.tasks.base import Table, Task
from abaw_bench.harness.tasks.spec import LabelPlot
from abaw_bench.harness.train.outputs import DEFAULT_THRESHOLD
from abaw_bench.leaderboard.board import Board
from abaw_bench.leaderboard.predictions import Predictions, read_predictions
from abaw_bench.leaderboard.render import direction, val_label
from abaw_bench.leaderboard.runs import PREDICTIONS_NAME, TRAIN_LOG_NAME
from abaw_bench.leaderboard.summary import Aggregate, Summary
from abaw_bench.leaderboard.tables import PaperTable

LABEL_SPLITS = ("train", "val")  # test labels are the organisers'
PAPER_COLOUR = "#7f7f7f"
REPRODUCED_COLOUR = "#1f77b4"
REPRODUCED_COLOURS = (REPRODUCED_COLOUR, "#2ca02c", "#17becf")  # one per configuration of a row's reproductions
CHECK_COLOURS = ("#ff7f0e", "#9467bd", "#8c564b")  # DEMO / RANDOM groups, in their order on the rows


@dataclass(frozen=True)
class Figure:
    path: Path
    title: str
    section: str  # "comparison" | "labels" | "curves"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(figure: Any) -> bytes:
    """PNG bytes without the matplotlib version in the metadata, so upgrading matplotlib alone changes no file."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    _pyplot().close(figure)
    return buffer.getvalue()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_")


def _rows_with_figures(table: PaperTable, summary: Summary | None) -> list[tuple[str, float | None, list[Aggregate]]]:
    """(row label, paper validation figure, aggregates) of the rows with a paper figure or a reproduced mean."""
    val = next((column for column in table.columns if column.key == "val"), None)
    rows = []
    for index, row in enumerate(table.rows):
        aggregates = summary.aggregates(table, index) if summary is not None else []
        paper = row.figures.get("val") if val is not None else None
        if paper is not None or any(aggregate.mean is not None for aggregate in aggregates):
            rows.append((row.label, paper, aggregates))
    return rows


def interval_errors(aggregate: Aggregate | None) -> tuple[float, float]:
    """(below, above) the mean of its 95 % bootstrap interval, for an asymmetric error bar; NaN without one. A
    percentile interval can miss its own mean on a skewed statistic: the bar then ends at the interval's far side."""
    if aggregate is None or aggregate.mean is None or aggregate.interval is None:
        return np.nan, np.nan
    low, high = aggregate.interval
    return max(0.0, aggregate.mean - low), max(0.0, high - aggregate.mean)


def _grouped_bars(axes: Any, rows: list[tuple[str, float | None, list[Aggregate]]], series: list[str],
                  paper_label: str | None, colours: dict[str, str], *, hatched: bool = False) -> None:
    """One group of bars per row: the paper's figure (when `paper_label`), then one bar per series (aggregate
    label), each with its 95 % interval as error bar."""
    keys = ([None] if paper_label is not None else []) + list(series)
    width = 0.8 / len(keys)
    positions = np.arange(len(rows))
    for k, key in enumerate(keys):
        heights, below, above = [], [], []
        for _, paper, aggregates in rows:
            aggregate = None if key is None else next((a for a in aggregates if a.label == key), None)
            if key is None:
                heights.append(np.nan if paper is None else paper)
            else:
                heights.append(np.nan if aggregate is None or aggregate.mean is None else aggregate.mean)
            low, high = interval_errors(aggregate)
            below.append(low)
            above.append(high)
        label = paper_label if key is None else f"{'reproduced' if key == 'real' else key} (mean, 95 % CI)"
        axes.bar(positions + (k - (len(keys) - 1) / 2) * width, heights, width,
                 yerr=None if key is None else np.array([below, above]), capsize=3, label=label,
                 color=PAPER_COLOUR if key is None else colours[key], hatch="//" if hatched else None,
                 edgecolor="white")
    axes.set_xticks(positions, [label for label, _, _ in rows], rotation=30, ha="right", fontsize=8)
    axes.axhline(0.0, color="black", linewidth=0.6)
    axes.legend(fontsize=7, loc="best")
    axes.grid(axis="y", alpha=0.3)


def comparison_figure(table: PaperTable, summary: Summary | None) -> Any | None:
    """Grouped bars per row, the paper's validation figure beside the reproductions (error bar: the 95 % bootstrap
    interval); the DEMO / RANDOM harness checks in a panel of their own without the paper's bars, since their figures
    are not comparable with the paper's. None when the table has no validation figure and no run to draw."""
    rows = _rows_with_figures(table, summary)
    if not rows:
        return None
    aggregates = [aggregate for _, _, row_aggregates in rows for aggregate in row_aggregates]
    real = list(dict.fromkeys(aggregate.label for aggregate in aggregates if aggregate.is_reproduction))
    checks = sorted({aggregate.label for aggregate in aggregates if not aggregate.is_reproduction})
    colours = {label: REPRODUCED_COLOURS[i % len(REPRODUCED_COLOURS)] for i, label in enumerate(real)}
    colours |= {label: CHECK_COLOURS[i % len(CHECK_COLOURS)] for i, label in enumerate(checks)}
    paper_rows = [(label, paper, [a for a in found if a.is_reproduction]) for label, paper, found in rows
                  if paper is not None or any(a.is_reproduction and a.mean is not None for a in found)]
    checked_rows = [(label, None, [a for a in found if not a.is_reproduction]) for label, _, found in rows
                    if any(not a.is_reproduction and a.mean is not None for a in found)]
    panels = [panel for panel in (paper_rows, checked_rows) if panel]

    plt = _pyplot()
    width = sum(max(4.5, 0.9 * len(panel) + 2.5) for panel in panels)
    figure, all_axes = plt.subplots(1, len(panels), figsize=(width, 4.4), squeeze=False, layout="constrained")
    val = f"{val_label(table)} {direction(table)}"
    for axes, panel in zip(all_axes[0], panels, strict=True):
        if panel is paper_rows:
            _grouped_bars(axes, panel, real, f"paper ({table.reference})", colours)
            axes.set_ylabel(val)
            axes.set_title(f"{table.name}: paper vs reproduced", fontsize=10)
        else:
            _grouped_bars(axes, panel, checks, None, colours, hatched=True)
            axes.set_ylabel(f"{val} (harness checks)")
            axes.set_title("DEMO / RANDOM runs: harness checks,\nnot comparable with the paper", fontsize=9)
    return figure


def scatter_figure(table: PaperTable, summary: Summary | None) -> Any | None:
    """Reproduced mean (95 % interval as error bar) against the paper's figure, one point per reproduction of a row,
    with the y = x line across every row's paper figure; reproductions only. None without any."""
    rows = _rows_with_figures(table, summary)
    points = [(label, paper, aggregate) for label, paper, aggregates in rows for aggregate in aggregates
              if paper is not None and aggregate.is_reproduction and aggregate.mean is not None]
    if not points:
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5.2, 5.0), layout="constrained")
    errors = np.array([interval_errors(aggregate) for _, _, aggregate in points]).T
    axes.errorbar([paper for _, paper, _ in points], [aggregate.mean for _, _, aggregate in points], yerr=errors,
                  fmt="o", color=REPRODUCED_COLOURS[0], ecolor=REPRODUCED_COLOURS[0], capsize=3,
                  label="reproduced mean, 95 % CI")
    for label, paper, aggregate in points:
        axes.annotate(label, (paper, aggregate.mean), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ends = [paper for _, paper, _ in rows if paper is not None]
    ends += [value for _, _, aggregate in points for value in (aggregate.mean, *(aggregate.interval or ()))]
    low, high = min(ends), max(ends)
    margin = 0.05 * max(high - low, 1e-3)
    axes.plot([low - margin, high + margin], [low - margin, high + margin], color=PAPER_COLOUR, linewidth=1,
              linestyle="--", label="y = x (reproduced = paper)")
    val = val_label(table)
    axes.set_xlabel(f"paper {val} ({table.reference})")
    axes.set_ylabel(f"reproduced {val} {direction(table)}")
    axes.set_title(f"{table.name}: reproduced vs paper", fontsize=10)
    axes.legend(fontsize=7)
    axes.grid(alpha=0.3)
    return figure


def label_figure(task_name: str, root: Path) -> Any:
    """The label distribution of the train and val splits under `root`, drawn as the task's `label_figure` says."""
    task = get_task(task_name)
    reader = task.reader(root)
    tables = {split: reader.labels(split) for split in LABEL_SPLITS}
    demo = " (DEMO data)" if is_demo_root(root) else ""
    spec = task.label_figure
    figure = _LABEL_DRAWINGS[spec.kind](_pyplot(), task, {split: _valid_rows(task, table) for split, table in
                                                           tables.items()})
    title = f"{spec.title}{demo}"
    if spec.kind == "joint-histogram":
        figure.suptitle(title, fontsize=10)
    else:
        figure.axes[0].set_title(title, fontsize=10)
    return figure


def _valid_rows(task: Task, table: Table) -> np.ndarray:
    """The label rows without the task's invalid marker (Aff-Wild2: VA -5 in any column, Expr -1)."""
    if task.invalid_label is None:
        return table.values
    return table.values[(table.values != task.invalid_label).all(axis=1)]


def _label_boxes(plt: Any, task: Task, values: dict[str, np.ndarray]) -> Any:
    """One box per label column and split (EMI: per emotion, as hallmen2024's Figure 1)."""
    figure, axes = plt.subplots(figsize=(8, 4), layout="constrained")
    names = task.columns
    for s, split in enumerate(LABEL_SPLITS):
        positions = np.arange(len(names)) + (s - 0.5) * 0.35
        boxes = axes.boxplot([values[split][:, c] for c in range(len(names))], positions=positions, widths=0.3,
                             patch_artist=True, showfliers=False)
        for box in boxes["boxes"]:
            box.set_facecolor((REPRODUCED_COLOUR, PAPER_COLOUR)[s])
        axes.plot([], [], color=(REPRODUCED_COLOUR, PAPER_COLOUR)[s], linewidth=8, label=split)
    axes.set_xticks(np.arange(len(names)), names, rotation=20, fontsize=8)
    axes.set_ylabel(task.label_figure.axis)
    axes.legend(fontsize=8)
    return figure


def _label_positive_rate(plt: Any, task: Task, values: dict[str, np.ndarray]) -> Any:
    """The share of rows labelled 1 per split (BAH: positive frames)."""
    figure, axes = plt.subplots(figsize=(5, 4), layout="constrained")
    rates = [float(np.mean(values[split][:, 0] == 1)) for split in LABEL_SPLITS]
    bars = axes.bar(LABEL_SPLITS, rates, color=REPRODUCED_COLOUR)
    for bar, split in zip(bars, LABEL_SPLITS, strict=True):
        axes.annotate(f"{bar.get_height():.1%} of {len(values[split])} {task.unit}s",
                      (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=8)
    axes.set_ylabel(task.label_figure.axis)
    axes.set_ylim(0, 1)
    return figure


def _label_joint_histogram(plt: Any, task: Task, values: dict[str, np.ndarray]) -> Any:
    """A 2-D histogram of the two label columns per split, over the ranges of the default submission layout (VA:
    valence and arousal in [-1, 1])."""
    figure, all_axes = plt.subplots(1, len(LABEL_SPLITS), figsize=(9, 4), squeeze=False, layout="constrained")
    x, y = task.formats[0].default_layout
    for axes, split in zip(all_axes[0], LABEL_SPLITS, strict=True):
        axes.hist2d(values[split][:, 0], values[split][:, 1], bins=40, range=[[x.low, x.high], [y.low, y.high]],
                    cmap="viridis")
        axes.set_xlabel(task.columns[0])
        axes.set_ylabel(task.columns[1])
        axes.set_title(f"{split}: {len(values[split])} {task.unit}s", fontsize=9)
    return figure


def _label_class_shares(plt: Any, task: Task, values: dict[str, np.ndarray]) -> Any:
    """Each class's share of the valid rows per split (Expr: the 8 expressions)."""
    classes = task.class_names or ()
    figure, axes = plt.subplots(figsize=(8, 4), layout="constrained")
    positions = np.arange(len(classes))
    for s, split in enumerate(LABEL_SPLITS):
        labels = values[split][:, 0].astype(np.int64)
        shares = np.bincount(labels, minlength=len(classes)) / max(1, len(labels))
        axes.bar(positions + (s - 0.5) * 0.4, shares, 0.4, label=f"{split} ({len(labels)} {task.unit}s)",
                 color=(REPRODUCED_COLOUR, PAPER_COLOUR)[s])
    axes.set_xticks(positions, classes, rotation=20, fontsize=8)
    axes.set_ylabel(task.label_figure.axis)
    axes.legend(fontsize=8)
    return figure


_LABEL_DRAWINGS: dict[LabelPlot, Callable[[Any, Task, dict[str, np.ndarray]], Any]] = {
    "boxes": _label_boxes,
    "positive-rate": _label_positive_rate,
    "joint-histogram": _label_joint_histogram,
    "class-shares": _label_class_shares,
}


def read_train_log(path: Path) -> list[dict[str, Any]]:
    """The epochs of a train_log.jsonl; AbawError naming the line when one is not an epoch object."""
    epochs = []
    try:
        for number, entry in enumerate(iter_jsonl(path), start=1):
            if not isinstance(entry, dict) or not isinstance(entry.get("epoch"), int):
                raise AbawError(f"{path}: entry {number}: expected an object with an integer 'epoch', found "
                                f"{str(entry)[:60]!r}")
            epochs.append(entry)
    except BadJson as error:
        raise AbawError(str(error)) from None
    return epochs


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else np.nan


def threshold_note(aggregate: Aggregate, logs: dict[Path, list[dict[str, Any]]]) -> str | None:
    """For a binary task, at which decision threshold the curve's validation figures were read, and where the table's
    figure was read when that differs (after the validation sweep); None for other tasks."""
    from abaw_bench.harness.tasks import get_task

    class_names = get_task(aggregate.runs[0].task).class_names
    if class_names is None or len(class_names) != 2:
        return None
    swept_each_epoch = any(isinstance(entry.get("val"), dict) and isinstance(entry["val"].get("extra"), dict)
                           and "threshold" in entry["val"]["extra"] for entries in logs.values() for entry in entries)
    if swept_each_epoch:
        return "each epoch at its own validation-swept threshold"
    swept = sorted({run.threshold for run in aggregate.runs if run.threshold is not None})
    if not swept:
        return f"at threshold {DEFAULT_THRESHOLD}"
    return (f"at threshold {DEFAULT_THRESHOLD}; the table's figure is after the threshold sweep "
            f"({', '.join(f'{value:.3f}' for value in swept)})")


def curves_figure(aggregate: Aggregate, logs: dict[Path, list[dict[str, Any]]]) -> Any:
    """Loss and validation metric per epoch (integer ticks), one line per run (seed), each run's best epoch starred;
    binary tasks say at which threshold the curve was read."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    figure, (loss_axes, metric_axes) = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained")
    metric_name = "val"
    for run in aggregate.runs:
        epochs = [entry for entry in logs.get(run.path, []) if entry["epoch"] > 0]
        if not epochs:
            continue
        x = [entry["epoch"] for entry in epochs]
        label = f"seed {'?' if run.seed is None else run.seed}"
        loss_axes.plot(x, [_number(entry.get("train_loss")) for entry in epochs], marker=".", label=label)
        vals = [entry.get("val") if isinstance(entry.get("val"), dict) else {} for entry in epochs]
        metric_name = next((v["metric"] for v in vals if isinstance(v.get("metric"), str)), metric_name)
        line, = metric_axes.plot(x, [_number(v.get("value")) for v in vals], marker=".", label=label)
        best = epochs[-1].get("best_epoch")
        if isinstance(best, int) and best in x:
            metric_axes.plot([best], [_number(vals[x.index(best)].get("value"))], marker="*", markersize=14,
                             color=line.get_color(), linestyle="none")
    loss_axes.set_ylabel("train loss")
    metric_axes.set_ylabel(f"val {metric_name} (★ best epoch)")
    for axes in (loss_axes, metric_axes):
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=7)
    note = threshold_note(aggregate, logs)
    if note is not None:
        metric_axes.set_title(f"val {metric_name} {note}", fontsize=8, wrap=True)
    run = aggregate.runs[0]
    figure.suptitle(f"{run.system}/{run.task}/{run.variant} ({aggregate.label})", fontsize=10)
    return figure


def breakdown_figure(aggregate: Aggregate) -> Any | None:
    """The validation metric's breakdown (EMI: r per emotion; Expr and BAH: per class, with the other figures the
    metric reports): the mean over the runs as a bar, each run (seed) as a dot. None when no run has a breakdown."""
    names = list(dict.fromkeys(name for run in aggregate.runs for name, _ in run.breakdown))
    if not names:
        return None
    values = np.array([[dict(run.breakdown).get(name, np.nan) for name in names] for run in aggregate.runs])
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(max(5.0, 0.8 * len(names) + 2.0), 4.0), layout="constrained")
    positions = np.arange(len(names))
    colour = REPRODUCED_COLOUR if aggregate.is_reproduction else CHECK_COLOURS[0]
    axes.bar(positions, np.nanmean(values, axis=0), 0.6, color=colour, label=f"mean of {len(values)} run(s)",
             hatch=None if aggregate.is_reproduction else "//", edgecolor="white")
    for row in values:
        axes.plot(positions, row, linestyle="none", marker="o", markersize=4, color="black")
    axes.plot([], [], linestyle="none", marker="o", markersize=4, color="black", label="one run (seed)")
    axes.set_xticks(positions, names, rotation=30, ha="right", fontsize=8)
    axes.axhline(0.0, color="black", linewidth=0.6)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize=7)
    run = aggregate.runs[0]
    axes.set_ylabel(f"val {run.metric} breakdown")
    task = get_task(run.task)
    what = f"per {'class' if task.class_names is not None else task.column_noun}"
    axes.set_title(f"{run.system}/{run.task}/{run.variant} ({aggregate.label})\nval {run.metric} {what}",
                   fontsize=9)
    return figure


def confusion_figure(aggregate: Aggregate, predictions: list[Predictions]) -> Any:
    """A multi-class task (Expr): the validation confusion matrix over the runs' rows pooled (rows: true class,
    normalised to 1; cells also give the counts); rows without a valid label (Expr -1) are left out, as the metric
    leaves them out."""
    class_names = get_task(aggregate.runs[0].task).class_names or ()
    classes = len(class_names)
    counts = np.zeros((classes, classes), dtype=np.int64)
    for item in predictions:
        truth = item.labels.values[:, 0].astype(np.int64)
        guess = item.predictions.values[:, item.predictions.columns.index("label")].astype(np.int64)
        valid = (truth >= 0) & (truth < classes) & (guess >= 0) & (guess < classes)
        counts += np.bincount(truth[valid] * classes + guess[valid], minlength=classes * classes).reshape(
            classes, classes)
    shares = counts / np.maximum(1, counts.sum(axis=1, keepdims=True))
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 5.6), layout="constrained")
    image = axes.imshow(shares, vmin=0, vmax=1, cmap="Blues")
    for i in range(classes):
        for j in range(classes):
            axes.text(j, i, f"{shares[i, j]:.2f}\n{counts[i, j]}", ha="center", va="center", fontsize=6,
                      color="white" if shares[i, j] > 0.5 else "black")
    axes.set_xticks(range(classes), class_names, rotation=30, ha="right", fontsize=8)
    axes.set_yticks(range(classes), class_names, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    figure.colorbar(image, ax=axes, shrink=0.8, label="share of the true class")
    run = aggregate.runs[0]
    axes.set_title(f"{run.system}/{run.task}/{run.variant} ({aggregate.label})\nvalidation confusion, "
                   f"{len(predictions)} run(s) pooled", fontsize=9)
    return figure


def precision_recall_figure(aggregate: Aggregate, predictions: list[Predictions]) -> Any:
    """A binary task (BAH): each run's validation precision-recall curve over the thresholds of the task's AP
    (`harness.metrics.functional`), the run's decision threshold (the swept one, else 0.5) marked."""
    from abaw_bench.harness.metrics import functional

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5.6, 4.8), layout="constrained")
    for run, item in zip(aggregate.runs, predictions, strict=True):
        scores = item.predictions.values[:, item.predictions.columns.index("p1")]
        target = item.labels.values[:, 0].astype(np.int64)
        precision, recall = functional.precision_recall_at_thresholds(
            *functional.threshold_histograms(scores, target))
        drawn = (precision > 0) | (recall > 0)  # not the thresholds above every score, where nothing is predicted
        seed = "?" if run.seed is None else run.seed
        line, = axes.plot(recall[drawn], precision[drawn], linewidth=1.2, label=f"seed {seed}")
        threshold = DEFAULT_THRESHOLD if run.threshold is None else run.threshold
        chosen = scores >= threshold
        positives = max(1, int(target.sum()))
        hits = int((chosen & (target == 1)).sum())
        axes.plot([hits / positives], [hits / max(1, int(chosen.sum()))], marker="o", markersize=8,
                  color=line.get_color(), markeredgecolor="black", linestyle="none",
                  label=f"threshold {threshold:.3f}" + (" (swept)" if run.threshold is not None else ""))
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_xlim(0, 1.02)
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    run = aggregate.runs[0]
    axes.set_title(f"{run.system}/{run.task}/{run.variant} ({aggregate.label})\nvalidation precision-recall",
                   fontsize=9)
    return figure


def write_figures(board: Board, summary: Summary | None, label_roots: dict[str, Path], directory: Path,
                  warn: Callable[[str], None]) -> list[Figure]:
    """Write every figure into `directory` (atomically); return them in report order. Unreadable inputs of one
    figure are reported through `warn` and that figure is left out."""
    figures: list[Figure] = []

    def save(name: str, figure: Any, title: str, section: str) -> None:
        path = directory / name
        write_bytes(path, png_bytes(figure))
        figures.append(Figure(path, title, section))

    for table in board.tables:
        comparison = comparison_figure(table, summary)
        if comparison is not None:
            save(f"{table.name}-comparison.png", comparison,
                 f"{table.name}: {val_label(table)}, paper vs reproduced", "comparison")
        scatter = scatter_figure(table, summary)
        if scatter is not None:
            save(f"{table.name}-scatter.png", scatter, f"{table.name}: reproduced vs paper, y = x", "comparison")
    for task in sorted(label_roots):
        try:
            save(f"labels-{task}.png", label_figure(task, label_roots[task]), f"label distribution: {task}",
                 "labels")
        except AbawError as error:
            warn(f"no label-distribution figure for {task}: {error}")
    if summary is None:
        return figures
    done: set[tuple[Path, ...]] = set()
    for aggregates in summary.by_row.values():
        for aggregate in aggregates:
            key = tuple(run.path for run in aggregate.runs)
            if key in done:
                continue
            done.add(key)
            run = aggregate.runs[0]
            name = _slug(f"{run.system}-{run.task}-{run.variant}-{aggregate.label}")
            what = f"{run.system}/{run.task}/{run.variant} ({aggregate.label})"
            logs = _logs(aggregate.runs, warn)
            if logs:
                save(f"curves-{name}.png", curves_figure(aggregate, logs), f"training curves: {what}", "curves")
            breakdown = breakdown_figure(aggregate)
            if breakdown is not None:
                save(f"breakdown-{name}.png", breakdown, f"validation breakdown: {what}", "breakdown")
            diagnostic = _diagnostic(get_task(run.task))
            if diagnostic is not None:
                predictions = _predictions(aggregate.runs, warn)
                if predictions is not None:
                    prefix, draw, title = diagnostic
                    save(f"{prefix}-{name}.png", draw(aggregate, predictions), f"validation {title}: {what}",
                         "diagnostics")
    return figures


def _diagnostic(task: Task) -> tuple[str, Callable[[Aggregate, list[Predictions]], Any], str] | None:
    """(file prefix, drawing, title) of a classification task's validation diagnostic: the precision-recall curve of
    a binary task, the confusion matrix of a multi-class one; None for a regression task."""
    if task.class_names is None:
        return None
    if len(task.class_names) == 2:
        return "precision-recall", precision_recall_figure, "precision-recall"
    return "confusion", confusion_figure, "confusion matrix"


def _predictions(runs: tuple[Results, ...], warn: Callable[[str], None]) -> list[Predictions] | None:
    """Every run's val_predictions.csv, or None (with a warning) when one is missing or unreadable."""
    loaded = []
    for run in runs:
        path = run.run_dir / PREDICTIONS_NAME
        try:
            if not path.is_file():
                raise AbawError(f"no {PREDICTIONS_NAME} in {run.run_dir}")
            loaded.append(read_predictions(path))
        except AbawError as error:
            warn(f"no {run.task} validation diagnostics for {run.system}/{run.variant}: {error}")
            return None
    return loaded


def _logs(runs: tuple[Results, ...], warn: Callable[[str], None]) -> dict[Path, list[dict[str, Any]]]:
    logs = {}
    for run in runs:
        path = run.run_dir / TRAIN_LOG_NAME
        if not path.is_file():
            warn(f"no training curves for {run.run_dir}: no {TRAIN_LOG_NAME}")
            continue
        try:
            logs[run.path] = read_train_log(path)
        except AbawError as error:
            warn(f"no training curves for {run.run_dir}: {error}")
    return logs
