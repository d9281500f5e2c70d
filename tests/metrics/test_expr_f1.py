"""Aff-Wild2 Expr macro F1 = ΣF1/8 (the ABAW definition) against sklearn.metrics.f1_score, with -1 label frames
excluded."""

from __future__ import annotations

import numpy as np
import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.metrics import expr_metric as _expr_metric
from abaw_bench.harness.tasks.affwild2 import EXPR, EXPR_CLASSES
from sklearn.metrics import f1_score

TOL = 1e-12
LABELS = list(range(8))


def expr_metric(pred, target):
    return _expr_metric(pred, target, EXPR_CLASSES, int(EXPR.invalid))


def _assert_matches_sklearn(pred: np.ndarray, target: np.ndarray) -> None:
    result = expr_metric(pred, target)
    valid = target != -1
    kwargs = {"labels": LABELS, "zero_division": 0.0}
    assert result.metric == "macro_f1"
    assert abs(result.value - f1_score(target[valid], pred[valid], average="macro", **kwargs)) <= TOL
    per_class = f1_score(target[valid], pred[valid], average=None, **kwargs)
    assert abs(result.value - per_class.sum() / 8) <= TOL
    for name, expected in zip(EXPR_CLASSES, per_class, strict=True):
        assert abs(result.breakdown[name] - expected) <= TOL
    present = set(target[valid].tolist()) | set(pred[valid].tolist())
    assert result.extra["absent_classes"] == [name for k, name in enumerate(EXPR_CLASSES) if k not in present]
    assert result.extra["n_valid"] == int(valid.sum()) and result.extra["n_excluded"] == int((~valid).sum())


@pytest.mark.parametrize("seed", range(8))
def test_matches_sklearn_on_random_inputs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 20000))
    prior = rng.dirichlet(np.full(8, 0.5))  # skewed, sometimes nearly missing classes
    target = rng.choice(8, size=n, p=prior)
    pred = np.where(rng.random(n) < rng.uniform(0.2, 0.9), target, rng.integers(0, 8, size=n))
    target[rng.random(n) < 0.1] = -1
    if (target == -1).all():
        target[0] = 0
    _assert_matches_sklearn(pred, target)


def test_class_absent_from_both_scores_zero_in_the_mean_of_eight() -> None:
    target = np.array([0, 0, 2, 2, 5, -1])
    pred = np.array([0, 1, 2, 2, 5, 7])  # 7 is predicted only on an excluded frame: absent after masking
    result = expr_metric(pred, target)
    _assert_matches_sklearn(pred, target)
    assert result.value == pytest.approx((2 / 3 + 0 + 1 + 1) / 8, abs=TOL)  # ΣF1/8, not the mean over 4 present
    assert result.extra["absent_classes"] == ["Fear", "Happiness", "Surprise", "Other"]
    assert result.breakdown["Other"] == 0.0 and len(result.breakdown) == 8
    assert len(result.warnings) == 4 and any("'Other'" in w and "scored 0" in w for w in result.warnings)


def test_constant_neutral_prediction_is_its_f1_over_eight() -> None:
    target = np.array([0, 0, 1, 2, 3, 4, 4, 6])
    result = expr_metric(np.zeros(8, int), target)
    assert result.value == pytest.approx((2 * 2 / (8 + 2)) / 8, abs=TOL)  # F1(Neutral) = 2·2/(8 + 2), the rest 0
    assert result.extra["absent_classes"] == ["Sadness", "Other"]


def test_class_only_in_predictions_scores_zero() -> None:
    result = expr_metric(np.array([3, 0, 0]), np.array([0, 0, 0]))
    assert result.breakdown["Fear"] == 0.0
    _assert_matches_sklearn(np.array([3, 0, 0]), np.array([0, 0, 0]))


def test_integral_floats_are_accepted() -> None:
    assert expr_metric(np.array([1.0, 2.0]), np.array([1.0, -1.0])).breakdown["Anger"] == 1.0


def test_all_frames_invalid_is_rejected() -> None:
    with pytest.raises(AbawError, match="all 3 label rows are -1"):
        expr_metric([0, 1, 2], [-1, -1, -1])


@pytest.mark.parametrize(
    ("pred", "target", "message"),
    [
        ([0, -1], [0, 1], r"predictions: expected an integer in 0..7, found 1 other value\(s\) \(first at row 1: -1\)"),
        ([0, 1], [0, 8], r"labels: expected an integer in 0..7 or -1 \(invalid\).*first at row 1: 8"),
        ([0, 1], [0, -2], r"labels: .*first at row 1: -2"),
        ([0.0, 1.5], [0, 1], r"first at row 1: 1.5"),
        ([0.0, np.nan], [0, 1], r"first at row 1: nan"),
        ([0, 1, 2], [0, 1], "3 rows but labels have 2"),
        ([], [], "empty input"),
    ],
)
def test_bad_inputs_are_rejected(pred: list, target: list, message: str) -> None:
    with pytest.raises(AbawError, match=message):
        expr_metric(np.array(pred), np.array(target))
