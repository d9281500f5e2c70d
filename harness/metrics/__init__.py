"""Reference metrics for the four ABAW tasks, numpy only (no torch import), with defined degenerate cases.

The task-level entry points below are what scorers call; each returns a `MetricResult` whose `metric`/`value` is the
task's headline number. They are one-shot uses of the stateful wrappers in `stateful` (update once, compute), which
in turn call the pure functions in `functional`. Conventions for degenerate inputs are in `CONVENTIONS.md`.
Every input problem (shape mismatch, NaN/inf, out-of-range label, empty input) raises `AbawError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from abaw_bench.harness.errors import AbawError, unknown_name_error
from abaw_bench.harness.metrics import _validate as check
from abaw_bench.harness.metrics import functional as F
from abaw_bench.harness.metrics.result import MetricResult
from abaw_bench.harness.metrics.stateful import (
    BahFrameMetric,
    BahVideoMetric,
    EmiMetric,
    ExprMetric,
    Metric,
    VaMetric,
)

__all__ = [
    "BahFrameMetric",
    "BahVideoMetric",
    "EmiMetric",
    "ExprMetric",
    "Metric",
    "VaMetric",
    "aggregate_frames_to_videos",
    "bah_frame_metric",
    "bah_video_metric",
    "emi_metric",
    "expr_metric",
    "va_metric",
]

AGGREGATION_METHODS = ("majority", "mean")


def emi_metric(pred: Any, target: Any, names: Sequence[str]) -> MetricResult:
    """EMI: "mean_pearson" over the columns `names` of (N, K) arrays; breakdown = each emotion's r.

    A constant prediction or label column has an undefined r; it counts as r = 0 and adds a warning.
    """
    metric = EmiMetric(names)
    metric.update(pred, target)
    return metric.compute()


def bah_frame_metric(pred: Any, target: Any, scores: Any = None) -> MetricResult:
    """BAH frame level: "weighted_f1" = Σ_i |n_i| F1_i / Σ_i |n_i| over classes {0, 1}, n_i the label support.

    Breakdown: macro_f1, f1_class0, f1_class1, accuracy, and average_precision when `scores` (positive-class
    probabilities) are given: the BAH organisers' AP, the trapezoid area under the (recall, precision) polyline
    through the thresholds np.arange(0, 1, 0.001) (predict 1 when score >= t; precision 0 where nothing is
    predicted positive), sklearn.metrics.auc(recall, precision) over those points, equal to theirs bit for bit.
    A class absent from both predictions and labels has no F1 entry and is left out of the macro mean.
    """
    metric = BahFrameMetric()
    metric.update(pred, target, scores)
    return metric.compute()


def bah_video_metric(pred: Any, target: Any) -> MetricResult:
    """BAH video level: "macro_f1" over classes {0, 1} (a class absent from both is left out of the mean)."""
    metric = BahVideoMetric()
    metric.update(pred, target)
    return metric.compute()


def va_metric(pred: Any, target: Any, dimensions: Sequence[str], invalid: float) -> MetricResult:
    """Aff-Wild2 VA: "mean_ccc" of the CCC of each of `dimensions` (valence, arousal) over (N, 2) arrays, population
    variance.

    Per-dimension masking: rows whose label is `invalid` (-5) in a column are excluded from that column's CCC only.
    A constant column gives CCC = 0 (warning); both the same constant gives 1 (warning).
    """
    metric = VaMetric(dimensions, invalid)
    metric.update(pred, target)
    return metric.compute()


def expr_metric(pred: Any, target: Any, class_names: Sequence[str], invalid: int) -> MetricResult:
    """Aff-Wild2 Expr: "macro_f1" = ΣF1/8 over `class_names` (8), the ABAW definition; rows labelled `invalid` (-1)
    excluded; breakdown per class.

    A class absent from both predictions and (valid) labels scores 0 and stays in the mean (sklearn's
    f1_score(..., labels=range(8), average="macro", zero_division=0)); `extra["absent_classes"]` and a warning name it.
    """
    metric = ExprMetric(class_names, invalid)
    metric.update(pred, target)
    return metric.compute()


def aggregate_frames_to_videos(
    groups: Sequence[str],
    frame_pred: Any = None,
    frame_prob: Any = None,
    method: str = "majority",
) -> tuple[list[str], np.ndarray]:
    """One 0/1 prediction per video from per-frame outputs; videos in order of first appearance in `groups`.

    "majority": needs `frame_pred` (0/1); 1 when at least half the video's frames are 1, so a tie goes to 1 (the
    same rule as the mean of the 0/1 predictions being >= 0.5). "mean": needs `frame_prob` (positive-class
    probability); 1 when the float64 mean over the video's frames is >= 0.5.
    """
    if method not in AGGREGATION_METHODS:
        raise unknown_name_error("aggregation method", method, AGGREGATION_METHODS)
    needed, name = (frame_pred, "frame_pred") if method == "majority" else (frame_prob, "frame_prob")
    if needed is None:
        raise AbawError(f"aggregation method {method!r} needs {name}, which was not given")
    if method == "majority":
        values = check.as_binary(frame_pred, "frame predictions")
    else:
        values = check.as_float_vector(frame_prob, "frame probabilities")
    check.check_same_rows(len(values), len(groups), "frame values", "frame groups")
    if len(groups) == 0:
        raise AbawError("cannot aggregate frames to videos: no frames were given (empty input)")
    video_ids, codes = F.group_codes(groups)
    if method == "majority":
        return video_ids, F.majority_vote(codes, values, len(video_ids))
    return video_ids, F.mean_probability_vote(codes, values, len(video_ids))
