"""EMI mean Pearson r against scipy.stats.pearsonr, plus the constant-column, empty and NaN conventions."""

from __future__ import annotations

import numpy as np
import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.metrics import emi_metric
from scipy.stats import pearsonr

NAMES = ("Admiration", "Amusement", "Determination", "Empathic Pain", "Excitement", "Joy")
TOL = 1e-9


def _scipy_r(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.array([pearsonr(pred[:, k], target[:, k]).statistic for k in range(pred.shape[1])])


@pytest.mark.parametrize("seed", range(6))
def test_matches_scipy_on_random_inputs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 3000))
    target = rng.beta(0.3, 3.0, size=(n, 6))  # skewed to 0 like the EMI labels
    pred = 0.5 * target + rng.normal(0, rng.uniform(0.01, 1.0), size=(n, 6))
    result = emi_metric(pred, target, NAMES)
    expected = _scipy_r(pred, target)
    assert result.metric == "mean_pearson"
    assert list(result.breakdown) == list(NAMES)
    np.testing.assert_allclose([result.breakdown[name] for name in NAMES], expected, rtol=0, atol=TOL)
    assert abs(result.value - expected.mean()) <= TOL
    assert result.warnings == []


def test_large_offset_and_scale_still_match_scipy() -> None:
    rng = np.random.default_rng(7)
    target = 1e6 + rng.normal(size=(500, 6))
    pred = -3e-4 * target + rng.normal(scale=1e-4, size=(500, 6))
    result = emi_metric(pred, target, NAMES)
    np.testing.assert_allclose([result.breakdown[n] for n in NAMES], _scipy_r(pred, target), rtol=0, atol=TOL)


def test_perfect_and_inverse_predictions() -> None:
    rng = np.random.default_rng(1)
    target = rng.random((40, 6))
    pred = target.copy()
    pred[:, 1] = -2.0 * target[:, 1] + 3.0
    result = emi_metric(pred, target, NAMES)
    assert result.breakdown["Amusement"] == pytest.approx(-1.0, abs=1e-12)
    assert result.breakdown["Joy"] == pytest.approx(1.0, abs=1e-12)


def test_constant_prediction_column_counts_as_zero_with_a_warning() -> None:
    rng = np.random.default_rng(2)
    target = rng.random((100, 6))
    pred = rng.random((100, 6))
    pred[:, 3] = 0.1  # 0.1 is inexact in binary: its computed mean differs from 0.1 in the last bit
    result = emi_metric(pred, target, NAMES)
    assert result.breakdown["Empathic Pain"] == 0.0
    others = [k for k in range(6) if k != 3]
    np.testing.assert_allclose(
        [result.breakdown[NAMES[k]] for k in others], _scipy_r(pred[:, others], target[:, others]), rtol=0, atol=TOL
    )
    assert abs(result.value - sum(result.breakdown.values()) / 6) <= TOL
    assert len(result.warnings) == 1 and "Empathic Pain" in result.warnings[0] and "prediction" in result.warnings[0]


def test_constant_label_column_and_single_row() -> None:
    rng = np.random.default_rng(3)
    target = rng.random((20, 6))
    target[:, 0] = 0.0
    result = emi_metric(rng.random((20, 6)), target, NAMES)
    assert result.breakdown["Admiration"] == 0.0
    assert any("Admiration" in w and "label" in w for w in result.warnings)
    single = emi_metric(rng.random((1, 6)), rng.random((1, 6)), NAMES)
    assert single.value == 0.0 and len(single.warnings) == 6


def test_accepts_lists_and_other_column_counts() -> None:
    result = emi_metric([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]], [[0.0, 0.0], [1.0, 1.0], [2.0, 3.0]], ("x", "y"))
    assert result.breakdown["x"] == pytest.approx(1.0, abs=1e-12)
    assert result.breakdown["y"] == pytest.approx(pearsonr([1.0, 0.0, 2.0], [0.0, 1.0, 3.0]).statistic, abs=TOL)


def test_empty_input_is_rejected() -> None:
    with pytest.raises(AbawError, match="empty input"):
        emi_metric(np.empty((0, 6)), np.empty((0, 6)), NAMES)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_predictions_name_count_and_first_row(bad: float) -> None:
    pred = np.zeros((10, 6))
    pred[4, 2] = bad
    pred[7, 0] = bad
    with pytest.raises(AbawError, match=r"predictions: .*found 2 NaN/inf value\(s\) \(first at row 4\)"):
        emi_metric(pred, np.zeros((10, 6)), NAMES)


def test_non_finite_labels_are_rejected() -> None:
    target = np.zeros((5, 6))
    target[3, 5] = np.nan
    with pytest.raises(AbawError, match=r"labels: .*1 NaN/inf value\(s\) \(first at row 3\)"):
        emi_metric(np.zeros((5, 6)), target, NAMES)


@pytest.mark.parametrize(
    ("pred_shape", "target_shape", "message"),
    [
        ((10, 6), (9, 6), "10 rows but labels have 9"),
        ((10, 5), (10, 6), r"shape \(N, 6\), found shape \(10, 5\)"),
        ((10,), (10, 6), r"found shape \(10,\)"),
    ],
)
def test_shape_mismatch_is_rejected(pred_shape: tuple, target_shape: tuple, message: str) -> None:
    with pytest.raises(AbawError, match=message):
        emi_metric(np.zeros(pred_shape), np.zeros(target_shape), NAMES)


def test_non_numeric_input_is_rejected() -> None:
    with pytest.raises(AbawError, match="expected numbers"):
        emi_metric([["a"] * 6], np.zeros((1, 6)), NAMES)
