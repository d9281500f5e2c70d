"""BAH frame-level F1 (weighted, macro, per class) and accuracy against sklearn.metrics."""

from __future__ import annotations

import numpy as np
import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.metrics import bah_frame_metric
from sklearn.metrics import accuracy_score, f1_score

TOL = 1e-12


def _assert_matches_sklearn(pred: np.ndarray, target: np.ndarray) -> None:
    result = bah_frame_metric(pred, target)
    kwargs = {"labels": [0, 1], "zero_division": np.nan}
    per_class = f1_score(target, pred, average=None, **kwargs)
    assert result.metric == "weighted_f1"
    assert abs(result.value - f1_score(target, pred, average="weighted", **kwargs)) <= TOL
    assert abs(result.breakdown["macro_f1"] - f1_score(target, pred, average="macro", **kwargs)) <= TOL
    assert abs(result.breakdown["accuracy"] - accuracy_score(target, pred)) <= TOL
    for k in (0, 1):
        if np.isnan(per_class[k]):
            assert f"f1_class{k}" not in result.breakdown
        else:
            assert abs(result.breakdown[f"f1_class{k}"] - per_class[k]) <= TOL


@pytest.mark.parametrize("seed", range(8))
def test_matches_sklearn_on_random_inputs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 20000))
    target = (rng.random(n) < rng.uniform(0.02, 0.6)).astype(np.int64)
    flip = rng.random(n) < rng.uniform(0.0, 0.5)
    _assert_matches_sklearn(np.where(flip, 1 - target, target), target)


def test_weighted_is_the_seed_formula() -> None:
    target = np.array([0] * 8 + [1] * 2)
    pred = np.array([0] * 6 + [1] * 2 + [1, 0])
    result = bah_frame_metric(pred, target)
    f1_0 = 2 * 6 / (2 * 6 + 2 + 1)
    f1_1 = 2 * 1 / (2 * 1 + 2 + 1)
    assert result.value == pytest.approx((8 * f1_0 + 2 * f1_1) / 10, abs=TOL)
    assert result.breakdown["macro_f1"] == pytest.approx((f1_0 + f1_1) / 2, abs=TOL)


@pytest.mark.parametrize(
    ("pred", "target"),
    [
        ([0, 0, 0, 0], [0, 1, 0, 1]),  # nothing predicted positive: F1 of class 1 is 0
        ([1, 1, 1, 1], [0, 0, 0, 0]),  # no positive labels, all predicted positive
        ([0, 0, 0], [0, 0, 0]),  # class 1 absent from both: excluded
        ([1, 1], [1, 1]),  # class 0 absent from both
        ([1], [0]),
    ],
)
def test_edge_cases_match_sklearn_zero_division_nan(pred: list[int], target: list[int]) -> None:
    _assert_matches_sklearn(np.array(pred), np.array(target))


def test_class_absent_from_both_is_reported() -> None:
    result = bah_frame_metric(np.zeros(5, int), np.zeros(5, int))
    assert result.value == 1.0 and result.breakdown["macro_f1"] == 1.0
    assert "f1_class1" not in result.breakdown
    assert len(result.warnings) == 1 and "'1'" in result.warnings[0]


def test_bool_and_integral_float_inputs_are_accepted() -> None:
    target = np.array([0, 1, 1, 0, 1])
    pred = np.array([0, 1, 0, 0, 1])
    expected = bah_frame_metric(pred, target).value
    assert bah_frame_metric(pred.astype(bool), target.astype(np.float32)).value == expected
    assert bah_frame_metric(pred.astype(np.uint8), target.astype(np.int8)).value == expected


@pytest.mark.parametrize("bad", [2, -1])
def test_labels_outside_0_1_are_rejected(bad: int) -> None:
    pred = np.zeros(10, dtype=np.int64)
    pred[[3, 8]] = bad
    message = rf"predictions: expected 0 or 1, found 2 other value\(s\) \(first at row 3: {bad}\)"
    with pytest.raises(AbawError, match=message):
        bah_frame_metric(pred, np.zeros(10, dtype=np.int64))


def test_nan_and_fractional_predictions_are_rejected() -> None:
    with pytest.raises(AbawError, match=r"first at row 1: nan"):
        bah_frame_metric(np.array([0.0, np.nan, 1.0]), np.array([0, 1, 1]))
    with pytest.raises(AbawError, match=r"first at row 2: 0.5"):
        bah_frame_metric(np.array([0.0, 1.0, 0.5]), np.array([0, 1, 1]))


def test_shape_mismatch_and_empty_input_are_rejected() -> None:
    with pytest.raises(AbawError, match="5 rows but labels have 4"):
        bah_frame_metric(np.zeros(5, int), np.zeros(4, int))
    with pytest.raises(AbawError, match="1-D"):
        bah_frame_metric(np.zeros((5, 1), int), np.zeros(5, int))
    with pytest.raises(AbawError, match="empty input"):
        bah_frame_metric(np.zeros(0, int), np.zeros(0, int))
