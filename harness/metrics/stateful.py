"""Stateful metric wrappers: `update(pred, target)` per chunk, `compute()` for the result, `reset()` to start over.

Classification metrics keep integer counts (and, for AP, per-threshold histograms), which add up exactly, so a
chunked computation equals the one-shot one bit for bit. Pearson and CCC keep the chunks themselves and concatenate
them in `compute` (as torchmetrics' "cat" states do): at Aff-Wild2 scale (3M frames × 2 floats) that is tens of MB,
and it avoids the rounding a running-moments merge would add. Every `update` validates its chunk, so a bad row is
reported by its index within that chunk.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.metrics import _validate as check
from abaw_bench.harness.metrics import functional as F
from abaw_bench.harness.metrics.result import MetricResult


class Metric(ABC):
    """Accumulates validated chunks; `compute` raises AbawError when no row was ever given (empty input)."""

    def __init__(self) -> None:
        self.reset()

    @abstractmethod
    def update(self, pred: Any, target: Any) -> None: ...

    @abstractmethod
    def compute(self) -> MetricResult: ...

    @abstractmethod
    def reset(self) -> None: ...


def _empty_error(what: str) -> AbawError:
    return AbawError(f"cannot compute {what}: no rows were given (empty input)")


class _ConcatenatingMetric(Metric):
    """Keeps each (pred, target) chunk; subclasses validate in `_check` and score the concatenation."""

    def reset(self) -> None:
        self._pred: list[np.ndarray] = []
        self._target: list[np.ndarray] = []

    def update(self, pred: Any, target: Any) -> None:
        pred_array, target_array = self._check(pred, target)
        check.check_same_rows(len(pred_array), len(target_array))
        self._pred.append(pred_array)
        self._target.append(target_array)

    def _concatenated(self, what: str) -> tuple[np.ndarray, np.ndarray]:
        """All chunks so far, joined; AbawError naming `what` when there are no rows."""
        if sum(len(chunk) for chunk in self._pred) == 0:
            raise _empty_error(what)
        return np.concatenate(self._pred), np.concatenate(self._target)

    @abstractmethod
    def _check(self, pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]: ...


class EmiMetric(_ConcatenatingMetric):
    """EMI: mean over emotions of Pearson's r between predicted and labelled intensities (constant column: r = 0)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        if not self.names:
            raise AbawError("EMI metric: expected at least one emotion name, found none")
        super().__init__()

    def _check(self, pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.names)
        return check.as_float_matrix(pred, "predictions", n), check.as_float_matrix(target, "labels", n)

    def compute(self) -> MetricResult:
        pred, target = self._concatenated("the EMI mean Pearson r")
        r, warnings = F.pearson_columns(pred, target, self.names)
        return MetricResult(
            metric="mean_pearson",
            value=float(np.mean(r)),
            breakdown={name: float(value) for name, value in zip(self.names, r, strict=True)},
            extra={"n": len(pred)},
            warnings=warnings,
        )


class VaMetric(_ConcatenatingMetric):
    """Aff-Wild2 VA: mean of CCC(valence) and CCC(arousal), population variance (Lin 1989).

    Masking is per dimension: a row whose label is the invalid marker (-5 in Aff-Wild2) in the valence column leaves
    the valence CCC but still counts for arousal if its arousal label is valid, and vice versa. Predictions are never
    masked. The dimension names and the marker are the task's facts (abaw_bench.harness.tasks.affwild2.VA).
    """

    def __init__(self, dimensions: Sequence[str], invalid: float) -> None:
        self.dimensions = tuple(dimensions)
        self.invalid = invalid
        super().__init__()

    def _check(self, pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
        width = len(self.dimensions)
        return check.as_float_matrix(pred, "predictions", width), check.as_float_matrix(target, "labels", width)

    def compute(self) -> MetricResult:
        pred, target = self._concatenated("the VA mean CCC")
        values: dict[str, float] = {}
        extra: dict[str, Any] = {"n": len(pred)}
        warnings: list[str] = []
        for column, dimension in enumerate(self.dimensions):
            valid = target[:, column] != self.invalid
            n_valid = int(np.count_nonzero(valid))
            if n_valid == 0:
                raise AbawError(f"cannot compute CCC({dimension}): all {len(pred)} label rows are "
                                f"{self.invalid:g} (invalid)")
            value, dimension_warnings = F.ccc(pred[valid, column], target[valid, column], dimension)
            values[f"ccc_{dimension}"] = value
            warnings += dimension_warnings
            extra[f"n_{dimension}"] = n_valid
        return MetricResult(
            metric="mean_ccc",
            value=float(np.mean(list(values.values()))),
            breakdown=values,
            extra=extra,
            warnings=warnings,
        )


def _absent_classes(counts: F.ClassCounts, names: Sequence[str]) -> list[str]:
    return [name for name, absent in zip(names, counts.absent(), strict=True) if absent]


def _absent_warnings(counts: F.ClassCounts, names: Sequence[str],
                     treatment: str = "left out of the breakdown and the means") -> list[str]:
    return [f"class {name!r} is in neither predictions nor labels: its F1 is 0/0, {treatment}"
            for name in _absent_classes(counts, names)]


class _CountingMetric(Metric):
    """Accumulates `ClassCounts`; subclasses turn a chunk into counts."""

    n_classes: int

    def reset(self) -> None:
        self._counts = F.ClassCounts.zeros(self.n_classes)


class BahFrameMetric(_CountingMetric):
    """BAH frame level: weighted F1 (the support-weighted mean of the per-class F1, `functional.weighted_f1`),
    macro F1, per-class F1, accuracy, and AP when scores are given.

    `scores` (the positive-class probability per frame) must be given with every update or with none.
    """

    n_classes = 2

    def reset(self) -> None:
        super().reset()
        self._with_scores: bool | None = None
        self._positives = np.zeros(F.N_THRESHOLDS + 1, dtype=np.int64)
        self._negatives = np.zeros(F.N_THRESHOLDS + 1, dtype=np.int64)

    def update(self, pred: Any, target: Any, scores: Any = None) -> None:
        pred_array = check.as_binary(pred, "predictions")
        target_array = check.as_binary(target, "labels")
        check.check_same_rows(len(pred_array), len(target_array))
        with_scores = scores is not None
        if self._with_scores is not None and with_scores != self._with_scores:
            raise AbawError("BAH frame metric: scores must be given with every update or with none")
        if with_scores:
            score_array = check.as_float_vector(scores, "scores")
            check.check_same_rows(len(score_array), len(target_array), "scores")
            positives, negatives = F.threshold_histograms(score_array, target_array)
            self._positives += positives
            self._negatives += negatives
        self._with_scores = with_scores
        self._counts += F.binary_counts(pred_array, target_array)

    def compute(self) -> MetricResult:
        counts = self._counts
        if counts.total == 0:
            raise _empty_error("the BAH frame-level F1")
        f1 = F.f1_per_class(counts)
        breakdown = {"macro_f1": F.macro_f1(f1)}
        breakdown.update({f"f1_class{i}": float(f1[i]) for i in range(2) if not np.isnan(f1[i])})
        breakdown["accuracy"] = F.accuracy(counts)
        warnings = _absent_warnings(counts, ("0", "1"))
        if self._with_scores:
            precision, recall = F.precision_recall_at_thresholds(self._positives, self._negatives)
            breakdown["average_precision"] = F.pr_area(precision, recall)
            if counts.support[1] == 0:
                warnings.append("no positive labels: recall is 0/0 at every threshold (taken as 0), so AP is 0")
        return MetricResult(
            metric="weighted_f1",
            value=F.weighted_f1(f1, counts),
            breakdown=breakdown,
            extra={"n": counts.total, "support": counts.support.tolist()},
            warnings=warnings,
        )


class BahVideoMetric(_CountingMetric):
    """BAH video level: macro F1 over classes {0, 1} of one prediction per video."""

    n_classes = 2

    def update(self, pred: Any, target: Any) -> None:
        pred_array = check.as_binary(pred, "video predictions")
        target_array = check.as_binary(target, "video labels")
        check.check_same_rows(len(pred_array), len(target_array), "video predictions", "video labels")
        self._counts += F.binary_counts(pred_array, target_array)

    def compute(self) -> MetricResult:
        counts = self._counts
        if counts.total == 0:
            raise _empty_error("the BAH video-level macro F1")
        f1 = F.f1_per_class(counts)
        breakdown = {f"f1_class{i}": float(f1[i]) for i in range(2) if not np.isnan(f1[i])}
        breakdown["accuracy"] = F.accuracy(counts)
        return MetricResult(
            metric="macro_f1",
            value=F.macro_f1(f1),
            breakdown=breakdown,
            extra={"n_videos": counts.total, "support": counts.support.tolist()},
            warnings=_absent_warnings(counts, ("0", "1")),
        )


class ExprMetric(_CountingMetric):
    """Aff-Wild2 Expr: the ABAW macro F1, ΣF1/8 over the expression classes; frames labelled with the invalid marker
    (-1) are excluded. A class absent from both predictions and labels scores F1 = 0 and stays in the mean (the ABAW
    definition divides by 8 whatever the data); the breakdown gives it 0 and `extra["absent_classes"]` names it.

    The class names and the marker are the task's facts (abaw_bench.harness.tasks.affwild2.EXPR).
    """

    def __init__(self, class_names: Sequence[str], invalid: int) -> None:
        self.class_names = tuple(class_names)
        self.n_classes = len(self.class_names)
        self.invalid = invalid
        super().__init__()

    def reset(self) -> None:
        super().reset()
        self._n_excluded = 0

    def update(self, pred: Any, target: Any) -> None:
        pred_array = check.as_class_indices(pred, "predictions", self.n_classes)
        target_array = check.as_class_indices(target, "labels", self.n_classes, invalid=self.invalid)
        check.check_same_rows(len(pred_array), len(target_array))
        valid = target_array != self.invalid
        self._n_excluded += len(valid) - int(np.count_nonzero(valid))
        self._counts += F.multiclass_counts(pred_array[valid], target_array[valid], self.n_classes)

    def compute(self) -> MetricResult:
        counts = self._counts
        if counts.total == 0:
            if self._n_excluded:
                raise AbawError(f"cannot compute the Expr macro F1: all {self._n_excluded} label rows are "
                               f"{self.invalid} (invalid)")
            raise _empty_error("the Expr macro F1")
        f1 = np.nan_to_num(F.f1_per_class(counts), nan=0.0)
        return MetricResult(
            metric="macro_f1",
            value=float(np.sum(f1) / self.n_classes),
            breakdown={name: float(value) for name, value in zip(self.class_names, f1, strict=True)},
            extra={"n_valid": counts.total, "n_excluded": self._n_excluded, "support": counts.support.tolist(),
                   "absent_classes": _absent_classes(counts, self.class_names)},
            warnings=_absent_warnings(counts, self.class_names, f"scored 0 in the ΣF1/{self.n_classes} mean"),
        )
