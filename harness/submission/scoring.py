"""Scoring a validated submission: align its table to the split's labels and run the task's reference metric.

One home for what `abaw-bench score` and the Python API's `score_predictions` both do once a file has validated.
"""

from __future__ import annotations

from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.metrics.result import MetricResult
from abaw_bench.harness.submission.reference import DatasetReferences, reader_level
from abaw_bench.harness.submission.validator import ValidationReport


def score_report(report: ValidationReport, references: DatasetReferences) -> tuple[MetricResult, int]:
    """(the metric result, the number of labelled rows scored) of a valid report's table; AbawError when the
    labels and the split's reference rows disagree."""
    from abaw_bench.harness.tasks import get_task

    if not report.ok or report.table is None:
        raise AbawError(f"{report.file}: not a valid submission, so it cannot be scored")
    level = reader_level(report.task, report.level)
    labels = references.reader.labels(references.split, level)
    try:
        predictions = report.table.reindex(labels.ids)
    except KeyError as missing:
        raise AbawError(f"{report.file}: no prediction for labelled row {missing} of the {references.split} split "
                        "(the labels and the split's reference rows disagree)") from None
    return get_task(report.task).score(predictions, labels, level), len(labels)
