"""From model outputs to what a run writes: prediction tables, per-row CSVs, one submission per level, level scores.

The prediction table's columns follow the task's facts: regression tasks keep their label columns; a binary task
(e.g. BAH) gives "pred" (probability >= the decision threshold) and "p1"; a multi-class task (Expr) gives "label", the
argmax class. Every scorer and submission writer reads those names. A binary task's model gives either one logit
("bce": the sigmoid is p1) or two ("ce": the softmax is (p0, p1), the BAH dataset authors' head); `positive_probability`
reads p1 from either.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.metrics.result import MetricResult
from abaw_bench.harness.tasks.base import Table, Task

DEFAULT_THRESHOLD = 0.5


def is_binary(task: Task) -> bool:
    return task.class_names is not None and len(task.class_names) == 2


def positive_probability(outputs: np.ndarray) -> np.ndarray:
    """A binary task's p1 per row from outputs on the probability scale: the one column (a sigmoid), or the second of
    two (a softmax over classes 0 and 1, whose argmax is p1 > 0.5)."""
    if outputs.ndim != 2 or outputs.shape[1] not in (1, 2):
        raise AbawError(f"a binary task's model gives 1 logit (loss 'bce') or 2 (loss 'ce') per row; found outputs of "
                        f"shape {list(outputs.shape)}")
    return outputs[:, -1]


def prediction_table(task: Task, ids: list[str], outputs: np.ndarray, *, threshold: float = DEFAULT_THRESHOLD,
                     groups: list[str] | None = None) -> Table:
    """Outputs on the prediction scale (probabilities for classification) → the task's prediction table."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if task.class_names is None:
        return Table(ids, outputs, task.columns, groups)
    if is_binary(task):
        p1 = positive_probability(outputs)
        return Table(ids, np.stack([(p1 >= threshold).astype(np.float64), p1], axis=1), ("pred", "p1"), groups)
    return Table(ids, np.argmax(outputs, axis=1).astype(np.float64)[:, None], ("label",), groups)


def constant_output(task: Task, train_labels: np.ndarray) -> np.ndarray:
    """The output row (prediction scale) of the constant floor fitted on the training labels (NaN: no label), as the
    baseline system's "constant" rows predict: the label columns' means for regression; for classification the
    majority class with probability 1 (a binary task's p1 is then 1 or 0, so the majority wins at any threshold)."""
    labels = np.asarray(train_labels, dtype=np.float64)
    if task.class_names is None:
        return np.nanmean(labels, axis=0)
    classes = labels[:, 0][np.isfinite(labels[:, 0])].astype(np.int64)
    majority = int(np.bincount(classes, minlength=len(task.class_names)).argmax())
    if is_binary(task):
        return np.array([float(majority)])
    return np.eye(len(task.class_names))[majority]


def with_constant_rows(all_rows: list[str], predicted_rows: list[str], outputs: np.ndarray,
                       constant: np.ndarray) -> np.ndarray:
    """Outputs for `all_rows` in their order: the predicted row's output where there is one, `constant` elsewhere."""
    position = {row: index for index, row in enumerate(predicted_rows)}
    index = np.fromiter((position.get(row, -1) for row in all_rows), dtype=np.int64, count=len(all_rows))
    outputs = np.asarray(outputs, dtype=np.float64)
    return np.where((index >= 0)[:, None], outputs[np.maximum(index, 0)], np.asarray(constant)[None, :])


def predictions_csv(predictions: Table, labels: Table | None) -> str:
    """One line per row: id, [group (frame tasks: the video)], the prediction columns, then `label:<column>`s."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    grouped = predictions.groups is not None
    header = ["id", *(["group"] if grouped else []), *predictions.columns]
    if labels is not None:
        header += [f"label:{column}" for column in labels.columns]
    writer.writerow(header)
    for row, row_id in enumerate(predictions.ids):
        cells = [row_id, *([predictions.groups[row]] if grouped else [])]
        cells += [f"{value:.6f}" for value in predictions.values[row]]
        if labels is not None:
            cells += [f"{value:.6f}" for value in labels.values[row]]
        writer.writerow(cells)
    return buffer.getvalue()


def level_tables(task: Task, frame_predictions: Table) -> dict[tuple[str, str], Table]:
    """(level, method) → the table to write at that level. The first level is the predictions themselves; BAH's
    video level is derived from the frames twice: by majority vote and by mean probability."""
    tables: dict[tuple[str, str], Table] = {(task.levels[0], ""): frame_predictions}
    if "video" in task.levels and is_binary(task) and frame_predictions.groups is not None:
        from abaw_bench.harness.metrics import aggregate_frames_to_videos

        groups = frame_predictions.groups
        columns = frame_predictions.columns
        pred = frame_predictions.values[:, columns.index("pred")]
        p1 = frame_predictions.values[:, columns.index("p1")]
        videos, majority = aggregate_frames_to_videos(groups, frame_pred=pred, method="majority")
        tables["video", "majority"] = Table(videos, np.asarray(majority, dtype=np.float64)[:, None], ("pred",))
        mean_p1 = _group_means(groups, p1, videos)
        _, mean_vote = aggregate_frames_to_videos(groups, frame_prob=p1, method="mean")
        tables["video", "mean"] = Table(videos, np.stack([1 - mean_p1, mean_p1, np.asarray(mean_vote, np.float64)],
                                                         axis=1), ("p0", "p1", "pred"))
    return tables


def _group_means(groups: list[str], values: np.ndarray, order: list[str]) -> np.ndarray:
    position = {video: i for i, video in enumerate(order)}
    codes = np.fromiter((position[group] for group in groups), dtype=np.int64, count=len(groups))
    return np.bincount(codes, weights=values, minlength=len(order)) / np.bincount(codes, minlength=len(order))


def submission_name(level: str, method: str, task: Task) -> str:
    """submission_test.csv for the task's default level; submission_test_<level>_<method>.csv for the others."""
    if level == task.levels[0]:
        return "submission_test.csv"
    return f"submission_test_{level}{'_' + method if method else ''}.csv"


def write_submissions(task: Task, run_dir: Path, test_predictions: Table, reader: Any) -> list[dict[str, Any]]:
    """Write and validate one submission per (level, method); returns what each check found."""
    from abaw_bench.harness.submission import validate_file, write_submission

    written = []
    for (level, method), table in level_tables(task, test_predictions).items():
        path = run_dir / submission_name(level, method, task)
        write_submission(task.name, path, table, level=level)
        report = validate_file(task.name, path, reader.reference_rows("test", level), level=level)
        written.append({"level": level, "method": method, "path": path, "report": report})
    return written


def level_scores(task: Task, val_predictions: Table, reader: Any) -> dict[str, dict[str, Any]]:
    """The validation score at every level beyond the first (BAH: video-level macro F1 per aggregation method)."""
    scores: dict[str, dict[str, Any]] = {}
    for (level, method), table in level_tables(task, val_predictions).items():
        if level == task.levels[0]:
            continue
        labels = reader.labels("val", level).reindex(table.ids)
        result: MetricResult = task.score(table, labels, level=level)
        scores.setdefault(level, {})[method] = result.to_json()
    return scores
