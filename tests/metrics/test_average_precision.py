"""The BAH dataset's AP (PR-curve area over the organisers' thresholds np.arange(0, 1, 0.001)) against the organisers'
definition written out plainly (bit for bit) and against loops over sklearn metrics."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.metrics import BahFrameMetric, bah_frame_metric
from abaw_bench.harness.metrics.functional import AP_THRESHOLDS, threshold_bins
from sklearn.metrics import auc, precision_recall_fscore_support

TOL = 1e-9


def sklearn_ap(scores: np.ndarray, target: np.ndarray) -> float:
    """The definition via sklearn: column k of a multilabel matrix is the prediction score >= k/1000, so one call of
    precision_recall_fscore_support (zero_division=0) gives the precision and recall at every threshold; then
    sklearn.metrics.auc over the 1000 (recall, precision) points in threshold order."""
    thresholds = np.arange(0, 1, 0.001)
    pred = (scores[:, None] >= thresholds[None, :]).astype(int)
    labels = np.repeat(target[:, None], 1000, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        precision, recall, _, _ = precision_recall_fscore_support(labels, pred, average=None, zero_division=0)
    return float(auc(recall, precision))


def numpy_loop_ap(scores: np.ndarray, target: np.ndarray) -> float:
    """Same definition with plain float64 counting (fast enough to run on many cases)."""
    precision, recall = np.zeros(1000), np.zeros(1000)
    positives = target.sum()
    for k, threshold in enumerate(np.arange(0, 1, 0.001)):
        pred = scores >= threshold
        tp = np.sum(pred & (target == 1))
        precision[k] = tp / pred.sum() if pred.sum() else 0.0
        recall[k] = tp / positives if positives else 0.0
    # The polyline through the points from the highest threshold down (recall ascending, ties in threshold order).
    return float(np.trapezoid(precision[::-1], recall[::-1]))


def organisers_definition_ap(probs_cl_1: np.ndarray, gt: np.ndarray) -> float:
    """The AP of the BAH organisers' bah_metrics.py (github.com/sbelharbi/bah-dataset), its definition written out
    straightforwardly: at each threshold of np.arange(0, 1, 0.001), predict 1 where the probability >= it; precision
    TP/(TP+FP), 0 when nothing is predicted; recall TP/(TP+FN); then sklearn.metrics.auc(recall, precision)."""
    precisions, recalls = [], []
    for threshold in np.arange(0, 1, 0.001).tolist():
        predicted = (probs_cl_1 >= threshold).astype(float)
        tp = np.sum(np.logical_and(predicted == 1, gt == 1))
        fp = np.sum(np.logical_and(predicted == 1, gt == 0))
        fn = np.sum(np.logical_and(predicted == 0, gt == 1))
        precisions.append((tp / (tp + fp)).item() if tp + fp > 0 else 0.0)
        recalls.append((tp / (tp + fn)).item())
    return float(auc(np.array(recalls), np.array(precisions)))


@pytest.mark.parametrize("seed", range(6))
def test_equals_the_organisers_definition_bit_for_bit_on_3_decimal_scores(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 2500))
    target = (rng.random(n) < rng.uniform(0.05, 0.9)).astype(np.int64)
    target[0] = 1  # the organisers' function asserts at least one positive label
    scores = np.round(np.clip(rng.beta(2, 4, size=n) + rng.uniform(0, 0.4) * target, 0, 1), 3)
    if seed == 0:  # every score on one of the 144 thresholds where np.arange differs from k/1000
        grid = np.arange(0, 1, 0.001)
        scores = rng.choice(np.flatnonzero(grid != np.arange(1000) / 1000), size=n) / 1000
    result = bah_frame_metric((scores >= 0.5).astype(int), target, scores)
    assert result.breakdown["average_precision"] == organisers_definition_ap(scores, target.astype(float))


def test_the_organisers_grid_decides_scores_that_sit_on_k_over_1000() -> None:
    """A 3-decimal score equal to k/1000 where np.arange's value is one bit above it is below that threshold."""
    grid = np.arange(0, 1, 0.001)
    differs = np.flatnonzero(grid != np.arange(1000) / 1000)
    assert differs.size == 144
    k = int(next(k for k in differs if grid[k] > k / 1000))
    target = np.array([1, 0, 1, 0])
    scores = np.array([k / 1000, k / 1000, 0.9, 0.1])
    ours = bah_frame_metric(target, target, scores).breakdown["average_precision"]
    assert ours == organisers_definition_ap(scores, target.astype(float))
    assert threshold_bins(np.array([k / 1000]))[0] == k  # reaches thresholds 0..k-1 only, as `>=` on that grid says


@pytest.mark.parametrize("seed", range(4))
def test_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    target = (rng.random(n) < rng.uniform(0.05, 0.9)).astype(np.int64)
    scores = np.clip(0.3 * target + rng.random(n) * 0.8, 0, 1)
    if seed % 2:
        scores = np.round(scores, 2)  # ties and scores exactly on thresholds
    result = bah_frame_metric((scores >= 0.5).astype(int), target, scores)
    assert abs(result.breakdown["average_precision"] - sklearn_ap(scores, target)) <= TOL


@pytest.mark.parametrize("seed", range(2, 8))
def test_matches_numpy_loop_on_random_inputs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 5000))
    target = (rng.random(n) < rng.uniform(0.05, 0.9)).astype(np.int64)
    scores = rng.beta(2, 5, size=n) + rng.uniform(0, 0.5) * target
    if seed % 2:
        scores = np.round(scores, 3)  # many scores exactly on a threshold
    result = bah_frame_metric((scores >= 0.5).astype(int), target, scores)
    assert abs(result.breakdown["average_precision"] - numpy_loop_ap(scores, target)) <= TOL


def test_scores_on_and_beside_thresholds_are_binned_as_the_comparison_says() -> None:
    on = AP_THRESHOLDS
    scores = np.concatenate([on, np.nextafter(on, -np.inf), np.nextafter(on, np.inf), [-0.5, 1.0, 1.5, 0.9995]])
    expected = np.array([np.count_nonzero(s >= AP_THRESHOLDS) for s in scores])
    np.testing.assert_array_equal(threshold_bins(scores), expected)
    np.testing.assert_array_equal(expected, np.searchsorted(AP_THRESHOLDS, scores, side="right"))


def test_threshold_grid_is_the_organisers_arange() -> None:
    assert AP_THRESHOLDS.shape == (1000,) and AP_THRESHOLDS[0] == 0.0
    np.testing.assert_array_equal(AP_THRESHOLDS, np.arange(0, 1, 0.001))


def test_hand_computed_curves_show_the_end_point_conventions() -> None:
    target = np.array([0, 0, 1, 1])
    # Perfect ranking: t <= 0.1 → (R 1, P 1/2); ≤ 0.2 → (1, 2/3); ≤ 0.6 → (1, 1); ≤ 0.7 → (1/2, 1); above 0.7 nothing is
    # predicted → (0, 0) by the precision-0 convention. Area: ½·(0 + 1)/2 + ½·1 = 0.75.
    graded = np.array([0.1, 0.2, 0.6, 0.7])
    result = bah_frame_metric(target, target, graded)
    assert result.breakdown["average_precision"] == pytest.approx(0.75, abs=1e-12)
    assert abs(0.75 - sklearn_ap(graded, target)) <= TOL
    # Perfect 0/1 scores: every threshold has recall 1, so the curve is one vertical line and its area is 0.
    saturated = bah_frame_metric(target, target, target.astype(float))
    assert saturated.breakdown["average_precision"] == 0.0 == sklearn_ap(target.astype(float), target)
    # Imperfect 0/1 scores reach two recalls: (R 1, P 1/2) at t = 0 and (1/2, 1) above, a trapezoid of ½·(1/2 + 1)/2.
    one_missed = np.array([0.0, 0.0, 0.0, 1.0])
    imperfect = bah_frame_metric(target, target, one_missed).breakdown["average_precision"]
    assert imperfect == 0.375 == sklearn_ap(one_missed, target)


def test_no_positive_labels_gives_zero_with_warning() -> None:
    result = bah_frame_metric(np.zeros(6, int), np.zeros(6, int), np.linspace(0, 1, 6))
    assert result.breakdown["average_precision"] == 0.0
    assert any("no positive labels" in w for w in result.warnings)


def test_scores_outside_unit_interval_are_allowed() -> None:
    target = np.array([0, 1, 0, 1, 1])
    scores = np.array([-0.2, 1.7, 0.4, 0.3, 2.0])
    result = bah_frame_metric(target, target, scores)
    assert abs(result.breakdown["average_precision"] - numpy_loop_ap(scores, target)) <= TOL


def test_bad_scores_are_rejected() -> None:
    target = np.array([0, 1, 1])
    with pytest.raises(AbawError, match=r"scores: .*1 NaN/inf value\(s\) \(first at row 2\)"):
        bah_frame_metric(target, target, np.array([0.1, 0.2, np.nan]))
    with pytest.raises(AbawError, match="scores have 2 rows but labels have 3"):
        bah_frame_metric(target, target, np.array([0.1, 0.2]))


def test_scores_must_be_given_with_every_update_or_none() -> None:
    metric = BahFrameMetric()
    metric.update([0, 1], [0, 1], [0.2, 0.9])
    with pytest.raises(AbawError, match="every update or with none"):
        metric.update([0, 1], [0, 1])
