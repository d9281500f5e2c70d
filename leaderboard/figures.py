"""The report's figures (matplotlib, Agg backend, PNG): no display needed, the same bytes for the same inputs.

- per paper table, the modality comparison in the style of hallmen2025's Figure 3: grouped bars of the paper's
  figure and the reproduced mean (error bar: sd over seeds), one group per row;
- per task with a data root, the label distribution: EMI one box per emotion (as hallmen2024's Figure 1), BAH the
  positive frame rate per split, VA the valence/arousal 2-D histogram, Expr the class frequencies;
- per group of runs (one variant, seeds overlaid), the training curves from `train_log.jsonl`: loss and validation
  metric per epoch, best epoch marked.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from abaw_bench.harness.atomic import write_bytes
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.paths import is_demo_root
from abaw_bench.leaderboard.board import Board
from abaw_bench.leaderboard.files import read_text
from abaw_bench.leaderboard.render import direction, val_label
from abaw_bench.leaderboard.runs import TRAIN_LOG_NAME, RunResult
from abaw_bench.leaderboard.summary import Aggregate, Summary
from abaw_bench.leaderboard.tables import PaperTable

LABEL_SPLITS = ("train", "val")  # test labels are the organisers'
PAPER_COLOUR = "#7f7f7f"
REPRODUCED_COLOUR = "#1f77b4"
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


def _png(figure: Any) -> bytes:
    """PNG bytes without the matplotlib version in the metadata, so upgrading matplotlib alone changes no file."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    _pyplot().close(figure)
    return buffer.getvalue()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_")


def comparison_png(table: PaperTable, summary: Summary | None) -> bytes | None:
    """Grouped bars per row: the paper's validation figure, the reproduced mean, the harness checks; None when the
    table has no validation figure and no run to draw."""
    val = next((column for column in table.columns if column.key == "val"), None)
    rows = []
    for index, row in enumerate(table.rows):
        aggregates = summary.aggregates(table, index) if summary is not None else []
        paper = row.figures.get("val") if val is not None else None
        if paper is not None or any(aggregate.mean is not None for aggregate in aggregates):
            rows.append((row.label, paper, aggregates))
    if not rows:
        return None
    found = {aggregate.kind for _, _, aggregates in rows for aggregate in aggregates}
    kinds = ["paper", *sorted(found, key=lambda kind: (kind != "real", kind))]  # reproductions beside the paper
    colours = {"paper": PAPER_COLOUR, "real": REPRODUCED_COLOUR}
    colours |= {kind: CHECK_COLOURS[i % len(CHECK_COLOURS)]
                for i, kind in enumerate(kind for kind in kinds if kind not in colours)}

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(max(6.0, 0.9 * len(rows) + 2.5), 4.2), layout="constrained")
    width = 0.8 / len(kinds)
    positions = np.arange(len(rows))
    for k, kind in enumerate(kinds):
        heights, errors = [], []
        for _, paper, aggregates in rows:
            if kind == "paper":
                heights.append(np.nan if paper is None else paper)
                errors.append(np.nan)
                continue
            aggregate = next((a for a in aggregates if a.kind == kind), None)
            heights.append(np.nan if aggregate is None or aggregate.mean is None else aggregate.mean)
            errors.append(np.nan if aggregate is None or aggregate.sd is None else aggregate.sd)
        label = {"paper": f"paper ({table.reference})", "real": "reproduced (mean ± sd)"}.get(kind, kind)
        axes.bar(positions + (k - (len(kinds) - 1) / 2) * width, heights, width, yerr=errors, capsize=3,
                 label=label, color=colours[kind], hatch=None if kind in ("paper", "real") else "//",
                 edgecolor="white")
    axes.set_xticks(positions, [label for label, _, _ in rows], rotation=30, ha="right", fontsize=8)
    axes.set_ylabel(f"{val.label if val is not None else 'val'} {direction(table)}")
    axes.axhline(0.0, color="black", linewidth=0.6)
    axes.set_title(f"{table.name}: paper vs reproduced", fontsize=10)
    axes.legend(fontsize=7, loc="best")
    axes.grid(axis="y", alpha=0.3)
    return _png(figure)


def label_png(task: str, root: Path) -> bytes:
    """The label distribution of the train and val splits under `root`."""
    from abaw_bench.harness.tasks import get_task

    reader = get_task(task).reader(root)
    tables = {split: reader.labels(split) for split in LABEL_SPLITS}
    plt = _pyplot()
    demo = " (DEMO data)" if is_demo_root(root) else ""
    if task == "emi":
        figure, axes = plt.subplots(figsize=(8, 4), layout="constrained")
        names = tables["train"].columns
        for s, split in enumerate(LABEL_SPLITS):
            values = tables[split].values
            positions = np.arange(len(names)) + (s - 0.5) * 0.35
            boxes = axes.boxplot([values[:, c] for c in range(len(names))], positions=positions, widths=0.3,
                                 patch_artist=True, showfliers=False)
            for box in boxes["boxes"]:
                box.set_facecolor((REPRODUCED_COLOUR, PAPER_COLOUR)[s])
            axes.plot([], [], color=(REPRODUCED_COLOUR, PAPER_COLOUR)[s], linewidth=8, label=split)
        axes.set_xticks(np.arange(len(names)), names, rotation=20, fontsize=8)
        axes.set_ylabel("intensity")
        axes.legend(fontsize=8)
        axes.set_title(f"EMI label intensities per emotion{demo}", fontsize=10)
    elif task == "bah":
        figure, axes = plt.subplots(figsize=(5, 4), layout="constrained")
        rates = [float(np.mean(tables[split].values[:, 0] == 1)) for split in LABEL_SPLITS]
        bars = axes.bar(LABEL_SPLITS, rates, color=REPRODUCED_COLOUR)
        for bar, split in zip(bars, LABEL_SPLITS, strict=True):
            axes.annotate(f"{bar.get_height():.1%} of {len(tables[split])} frames",
                          (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=8)
        axes.set_ylabel("positive (A/H) frame rate")
        axes.set_ylim(0, 1)
        axes.set_title(f"BAH positive frame rate per split{demo}", fontsize=10)
    elif task == "va":
        figure, all_axes = plt.subplots(1, len(LABEL_SPLITS), figsize=(9, 4), squeeze=False, layout="constrained")
        for axes, split in zip(all_axes[0], LABEL_SPLITS, strict=True):
            values = tables[split].values
            valid = (values != -5).all(axis=1)
            axes.hist2d(values[valid, 0], values[valid, 1], bins=40, range=[[-1, 1], [-1, 1]], cmap="viridis")
            axes.set_xlabel("valence")
            axes.set_ylabel("arousal")
            axes.set_title(f"{split}: {int(valid.sum())} frames", fontsize=9)
        figure.suptitle(f"Aff-Wild2 valence/arousal{demo}", fontsize=10)
    elif task == "expr":
        from abaw_bench.harness.tasks.affwild2 import EXPR_CLASSES

        figure, axes = plt.subplots(figsize=(8, 4), layout="constrained")
        positions = np.arange(len(EXPR_CLASSES))
        for s, split in enumerate(LABEL_SPLITS):
            labels = tables[split].values[:, 0]
            labels = labels[labels >= 0].astype(np.int64)
            shares = np.bincount(labels, minlength=len(EXPR_CLASSES)) / max(1, len(labels))
            axes.bar(positions + (s - 0.5) * 0.4, shares, 0.4, label=f"{split} ({len(labels)} frames)",
                     color=(REPRODUCED_COLOUR, PAPER_COLOUR)[s])
        axes.set_xticks(positions, EXPR_CLASSES, rotation=20, fontsize=8)
        axes.set_ylabel("share of valid frames")
        axes.legend(fontsize=8)
        axes.set_title(f"Aff-Wild2 expression class frequencies{demo}", fontsize=10)
    else:
        raise AbawError(f"no label-distribution figure for task {task!r}")
    return _png(figure)


def read_train_log(path: Path) -> list[dict[str, Any]]:
    """The epochs of a train_log.jsonl; AbawError naming the line when one is not an epoch object."""
    text = read_text(path, "the training log")
    epochs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            raise AbawError(f"{path}: line {number}: invalid JSON: {error.msg}") from error
        if not isinstance(entry, dict) or not isinstance(entry.get("epoch"), int):
            raise AbawError(f"{path}: line {number}: expected an object with an integer 'epoch', found "
                            f"{line[:60]!r}")
        epochs.append(entry)
    return epochs


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else np.nan


def curves_png(aggregate: Aggregate, logs: dict[Path, list[dict[str, Any]]]) -> bytes:
    """Loss and validation metric per epoch, one line per run (seed), each run's best epoch starred."""
    plt = _pyplot()
    figure, (loss_axes, metric_axes) = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
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
    loss_axes.set_xlabel("epoch")
    loss_axes.set_ylabel("train loss")
    metric_axes.set_xlabel("epoch")
    metric_axes.set_ylabel(f"val {metric_name} (★ best epoch)")
    for axes in (loss_axes, metric_axes):
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=7)
    run = aggregate.runs[0]
    figure.suptitle(f"{run.system}/{run.task}/{run.variant} ({aggregate.kind})", fontsize=10)
    return _png(figure)


def write_figures(board: Board, summary: Summary | None, label_roots: dict[str, Path], directory: Path,
                  warn: Callable[[str], None]) -> list[Figure]:
    """Write every figure into `directory` (atomically); return them in report order. Unreadable inputs of one
    figure are reported through `warn` and that figure is left out."""
    figures: list[Figure] = []

    def save(name: str, data: bytes, title: str, section: str) -> None:
        path = directory / name
        write_bytes(path, data)
        figures.append(Figure(path, title, section))

    for table in board.tables:
        data = comparison_png(table, summary)
        if data is not None:
            save(f"{table.name}-comparison.png", data,
                 f"{table.name}: {val_label(table)}, paper vs reproduced", "comparison")
    for task in sorted(label_roots):
        try:
            save(f"labels-{task}.png", label_png(task, label_roots[task]), f"label distribution: {task}", "labels")
        except AbawError as error:
            warn(f"no label-distribution figure for {task}: {error}")
    if summary is not None:
        done: set[tuple[Path, ...]] = set()
        for aggregates in summary.by_row.values():
            for aggregate in aggregates:
                key = tuple(run.path for run in aggregate.runs)
                if key in done:
                    continue
                done.add(key)
                logs = _logs(aggregate.runs, warn)
                if logs:
                    run = aggregate.runs[0]
                    name = _slug(f"curves-{run.system}-{run.task}-{run.variant}-{aggregate.kind}")
                    save(f"{name}.png", curves_png(aggregate, logs),
                         f"training curves: {run.system}/{run.task}/{run.variant} ({aggregate.kind})", "curves")
    return figures


def _logs(runs: tuple[RunResult, ...], warn: Callable[[str], None]) -> dict[Path, list[dict[str, Any]]]:
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
