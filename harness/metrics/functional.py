"""The pure numeric core of the reference metrics: functions on already-validated numpy arrays.

Nothing here keeps state or checks user input (see `_validate`); the task-level entry points and the stateful
wrappers in `harness.metrics.stateful` both call these, so a one-shot score and a chunked score share one formula.
All arithmetic is float64. Degenerate cases follow `CONVENTIONS.md`; functions that meet one return a warning text
instead of raising, so a scorer can report it next to the number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

N_THRESHOLDS = 1000
# The BAH AP thresholds exactly as the organisers' bah_metrics.py builds them: np.arange(0, 1, 0.001). For 144 of the
# 1000 values this grid differs in the last bit from the float64 nearest to k/1000, which decides whether a score
# equal to such a k/1000 (any 3-decimal score) is counted at that threshold: the organisers' grid is the reference.
AP_THRESHOLDS = np.arange(0, 1, 0.001)
HISTOGRAM_BLOCK = 65_536


def is_constant(column: np.ndarray) -> bool:
    """Every value equal to the first: exact, as scipy's ConstantInputWarning test, so rounding cannot decide it."""
    return bool((column == column[0]).all())


def pearson_columns(pred: np.ndarray, target: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Pearson's r of each column of (N, K) `pred` against `target`, with warnings for constant columns.

    r is undefined when either column is constant (zero variance); it is reported as 0, the correlation a
    constant predictor carries, and a warning names the column. Non-constant columns match scipy.stats.pearsonr.
    """
    pred_dev = pred - pred.mean(axis=0)
    target_dev = target - target.mean(axis=0)
    warnings: list[str] = []
    r = np.zeros(pred.shape[1])
    for k, name in enumerate(names):
        constant = [side for side, col in (("prediction", pred[:, k]), ("label", target[:, k])) if is_constant(col)]
        if constant:
            warnings.append(f"{name}: constant {' and '.join(constant)} column, Pearson r is undefined; reported as 0")
            continue
        x = pred_dev[:, k] / np.linalg.norm(pred_dev[:, k])
        y = target_dev[:, k] / np.linalg.norm(target_dev[:, k])
        r[k] = np.clip(np.dot(x, y), -1.0, 1.0)
    return r, warnings


def ccc(pred: np.ndarray, target: np.ndarray, name: str) -> tuple[float, list[str]]:
    """Lin's (1989) concordance correlation coefficient with population (1/N) variances and covariance.

    CCC = 2·cov / (var_pred + var_target + (mean_pred − mean_target)²). A constant column has exactly zero variance
    and covariance, so CCC = 0 unless both columns are the same constant, where the formula is 0/0 and CCC is
    reported as 1 (perfect agreement). Each case adds a warning.
    """
    warnings: list[str] = []
    pred_constant, target_constant = is_constant(pred), is_constant(target)
    pred_mean, target_mean = pred.mean(), target.mean()
    pred_dev = np.zeros_like(pred) if pred_constant else pred - pred_mean
    target_dev = np.zeros_like(target) if target_constant else target - target_mean
    if pred_constant:
        pred_mean = pred[0]
    if target_constant:
        target_mean = target[0]
    denominator = np.mean(pred_dev**2) + np.mean(target_dev**2) + (pred_mean - target_mean) ** 2
    if denominator == 0.0:
        warnings.append(f"{name}: predictions and labels are the same constant, CCC is 0/0; reported as 1")
        return 1.0, warnings
    constant = [side for side, flag in (("prediction", pred_constant), ("label", target_constant)) if flag]
    if constant:
        warnings.append(f"{name}: constant {' and '.join(constant)} column, CCC is 0")
    return float(2.0 * np.mean(pred_dev * target_dev) / denominator), warnings


@dataclass
class ClassCounts:
    """Per-class counts that determine every F1 variant: true positives, predicted count and label count (support).

    These add up across chunks exactly, which is what lets the stateful wrappers equal a one-shot call.
    """

    true_positive: np.ndarray
    predicted: np.ndarray
    support: np.ndarray

    @classmethod
    def zeros(cls, n_classes: int) -> ClassCounts:
        return cls(*(np.zeros(n_classes, dtype=np.int64) for _ in range(3)))

    def __iadd__(self, other: ClassCounts) -> ClassCounts:
        self.true_positive += other.true_positive
        self.predicted += other.predicted
        self.support += other.support
        return self

    @property
    def total(self) -> int:
        return int(self.support.sum())

    def absent(self) -> np.ndarray:
        """Classes neither predicted nor labelled anywhere: their F1 is 0/0."""
        return (self.predicted + self.support) == 0


def binary_counts(pred: np.ndarray, target: np.ndarray) -> ClassCounts:
    """Counts for classes {0, 1} from boolean arrays, by three boolean sums (no per-frame loop, no bincount)."""
    n = pred.size
    tp1 = int(np.count_nonzero(pred & target))
    predicted1 = int(np.count_nonzero(pred))
    support1 = int(np.count_nonzero(target))
    tp0 = n - predicted1 - support1 + tp1
    return ClassCounts(
        np.array([tp0, tp1], dtype=np.int64),
        np.array([n - predicted1, predicted1], dtype=np.int64),
        np.array([n - support1, support1], dtype=np.int64),
    )


def multiclass_counts(pred: np.ndarray, target: np.ndarray, n_classes: int) -> ClassCounts:
    """Counts for classes 0..n_classes-1 from int arrays of indices already known to be in range."""
    return ClassCounts(
        np.bincount(target[pred == target], minlength=n_classes),
        np.bincount(pred, minlength=n_classes),
        np.bincount(target, minlength=n_classes),
    )


def f1_per_class(counts: ClassCounts) -> np.ndarray:
    """F1_i = 2·TP_i / (2·TP_i + FP_i + FN_i) = 2·TP_i / (predicted_i + support_i); NaN for a class absent from both.

    NaN is sklearn's `zero_division=np.nan`: such a class is left out of macro and weighted means (see `macro_f1`).
    """
    denominator = counts.predicted + counts.support
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2.0 * counts.true_positive / denominator, np.nan)


def macro_f1(f1: np.ndarray) -> float:
    """Unweighted mean over the classes present in predictions or labels (absent-from-both classes, NaN, excluded)."""
    return float(np.mean(f1[~np.isnan(f1)]))


def weighted_f1(f1: np.ndarray, counts: ClassCounts) -> float:
    """Support-weighted F1, Σ_i |n_i|·F1_i / Σ_i |n_i|, n_i the label support (a class absent from both has n_i = 0):
    BAH's headline, as Hallmen et al., Semantic Matters (ABAW 8), Table 2 reports it, and the BAH organisers'
    `bah_metrics.py` computes it (sklearn's `f1_score(average="weighted")`)."""
    present = ~np.isnan(f1)
    return float(np.sum(counts.support[present] * f1[present]) / counts.total)


def accuracy(counts: ClassCounts) -> float:
    return float(counts.true_positive.sum() / counts.total)


def threshold_bins(scores: np.ndarray) -> np.ndarray:
    """For each score, how many of `AP_THRESHOLDS` it reaches (t <= score): 0..1000, exactly as `score >= t` decides.

    floor(score·1000) + 1 is right whenever score·1000 is not within rounding distance of an integer; only the
    scores that are (on or next to a threshold) go through np.searchsorted against the thresholds themselves,
    which is exact but several times slower.
    """
    scaled = np.clip(scores, -1.0, 2.0) * N_THRESHOLDS
    floor = np.floor(scaled)
    fraction = scaled - floor
    reached = np.clip(floor + 1, 0, N_THRESHOLDS).astype(np.int64)
    near = (fraction < 1e-6) | (fraction > 1 - 1e-6)
    if near.any():
        reached[near] = np.searchsorted(AP_THRESHOLDS, scores[near], side="right")
    return reached


def threshold_histograms(scores: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positives, negatives) per `threshold_bins` value (length 1001): enough to rebuild every threshold's counts.

    Works through the frames in blocks of `HISTOGRAM_BLOCK`: the half-dozen temporaries per block then stay in cache
    instead of being fresh multi-MB allocations, which measured 4-5x faster on 335k frames.
    """
    joint = np.zeros(2 * (N_THRESHOLDS + 1), dtype=np.int64)
    for start in range(0, len(scores), HISTOGRAM_BLOCK):
        block = slice(start, start + HISTOGRAM_BLOCK)
        joint += np.bincount(2 * threshold_bins(scores[block]) + target[block], minlength=joint.size)
    return joint[1::2], joint[0::2]


def precision_recall_at_thresholds(positives: np.ndarray, negatives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall at each of the 1000 thresholds (predict 1 when score >= t).

    Precision is 0 where nothing is predicted positive, recall is 0 where there are no positive labels: sklearn's
    precision_score / recall_score with zero_division=0 (their default value).
    """
    # A score reaching bin b is predicted positive at thresholds 0..b-1, so the count at threshold k sums bins > k.
    true_positive = np.cumsum(positives[::-1])[::-1][1:]
    false_positive = np.cumsum(negatives[::-1])[::-1][1:]
    predicted = true_positive + false_positive
    total_positive = positives.sum()
    precision = np.divide(true_positive, predicted, out=np.zeros(N_THRESHOLDS), where=predicted > 0)
    recall = true_positive / total_positive if total_positive > 0 else np.zeros(N_THRESHOLDS)
    return precision, recall


def pr_area(precision: np.ndarray, recall: np.ndarray) -> float:
    """Trapezoid area under the polyline through the (recall, precision) points in threshold order (ascending
    thresholds), computed with the very operations of sklearn.metrics.auc(recall, precision), which the organisers'
    bah_metrics.py calls: the same float64 result bit for bit.

    Recall never increases with the threshold, so the area is taken with direction -1 (auc's rule for a decreasing
    x); runs of equal recall add no area, and a recall that never changes gives 0. The curve spans only the recalls
    the thresholds reach: no (0, 1) or (1, ·) end points are added.
    """
    widths = np.diff(recall)
    direction = -1.0 if np.any(widths < 0) else 1.0
    return float(direction * (widths * (precision[1:] + precision[:-1]) / 2.0).sum())


def group_codes(groups: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """(distinct groups in order of first appearance, each row's index into them)."""
    index: dict[str, int] = {}
    codes = np.fromiter((index.setdefault(group, len(index)) for group in groups), dtype=np.int64, count=len(groups))
    return list(index), codes


def majority_vote(codes: np.ndarray, positive: np.ndarray, n_groups: int) -> np.ndarray:
    """1 where at least half of a group's rows are positive: a tie goes to 1, as mean >= 0.5 does."""
    votes = np.bincount(codes[positive], minlength=n_groups)
    sizes = np.bincount(codes, minlength=n_groups)
    return (2 * votes >= sizes).astype(np.int64)


def mean_probability_vote(codes: np.ndarray, probability: np.ndarray, n_groups: int) -> np.ndarray:
    """1 where the float64 mean of a group's positive-class probabilities is >= 0.5."""
    sums = np.bincount(codes, weights=probability, minlength=n_groups)
    sizes = np.bincount(codes, minlength=n_groups)
    return (sums / sizes >= 0.5).astype(np.int64)
