"""VA mean CCC against a plain float64 formula (Lin 1989, population variance), with per-dimension -5 masking."""

from __future__ import annotations

import numpy as np
import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.metrics import va_metric
from abaw_bench.harness.tasks.affwild2 import VA

TOL = 1e-9


def _va(pred, target):
    return va_metric(pred, target, VA.header, VA.invalid)


def reference_ccc(x: np.ndarray, y: np.ndarray) -> float:
    """CCC = 2·cov / (σx² + σy² + (μx − μy)²) with 1/N moments, written out with Python floats."""
    x, y = [float(v) for v in x], [float(v) for v in y]
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    vx = sum((a - mx) ** 2 for a in x) / n
    vy = sum((b - my) ** 2 for b in y) / n
    cov = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / n
    return 2 * cov / (vx + vy + (mx - my) ** 2)


@pytest.mark.parametrize("seed", range(6))
def test_matches_formula_on_random_inputs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 4000))
    target = np.clip(rng.normal(0.1, 0.4, size=(n, 2)), -1, 1)
    pred = np.clip(0.7 * target + rng.normal(0.05, rng.uniform(0.05, 0.8), size=(n, 2)), -1, 1)
    result = _va(pred, target)
    valence = reference_ccc(pred[:, 0], target[:, 0])
    arousal = reference_ccc(pred[:, 1], target[:, 1])
    assert result.metric == "mean_ccc"
    assert abs(result.breakdown["ccc_valence"] - valence) <= TOL
    assert abs(result.breakdown["ccc_arousal"] - arousal) <= TOL
    assert abs(result.value - (valence + arousal) / 2) <= TOL
    assert result.warnings == []


def test_population_not_sample_variance() -> None:
    # With a mean offset the two conventions differ clearly at small N; the formula above pins 1/N.
    target = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    pred = target + 1.0
    result = _va(pred, target)
    # 1/N: cov = 2/3, var = 2/3 each, offset² = 1 → 2·(2/3) / (4/3 + 1) = 4/7
    assert result.breakdown["ccc_valence"] == pytest.approx(4 / 7, abs=1e-12)


def test_invalid_frames_are_masked_per_dimension() -> None:
    rng = np.random.default_rng(10)
    n = 500
    target = rng.uniform(-1, 1, size=(n, 2))
    pred = target + rng.normal(0, 0.3, size=(n, 2))
    target[rng.random(n) < 0.2, 0] = -5.0
    target[rng.random(n) < 0.1, 1] = -5.0
    target[:5] = -5.0  # rows invalid in both columns
    pred[target == -5.0] = 123.0  # what a system predicts on invalid frames must not matter
    result = _va(pred, target)
    for column, name in enumerate(("valence", "arousal")):
        keep = target[:, column] != -5.0
        assert abs(result.breakdown[f"ccc_{name}"] - reference_ccc(pred[keep, column], target[keep, column])) <= TOL
        assert result.extra[f"n_{name}"] == int(keep.sum())
    # Joint masking (drop a row when either column is -5) gives a different valence CCC: per-dimension is what we do.
    both = (target != -5.0).all(axis=1)
    assert abs(result.breakdown["ccc_valence"] - reference_ccc(pred[both, 0], target[both, 0])) > 1e-6


def test_constant_prediction_gives_zero_with_warning() -> None:
    rng = np.random.default_rng(4)
    target = rng.uniform(-1, 1, size=(50, 2))
    pred = np.column_stack([np.full(50, 0.3), target[:, 1]])
    result = _va(pred, target)
    assert result.breakdown["ccc_valence"] == 0.0
    assert result.breakdown["ccc_arousal"] == pytest.approx(1.0, abs=1e-12)
    assert len(result.warnings) == 1 and "valence" in result.warnings[0] and "constant prediction" in result.warnings[0]


def test_constant_label_and_both_constant() -> None:
    target = np.column_stack([np.full(30, 0.2), np.full(30, 0.2)])
    pred = np.column_stack([np.linspace(-1, 1, 30), np.full(30, 0.2)])
    result = _va(pred, target)
    assert result.breakdown["ccc_valence"] == 0.0  # label constant, prediction varies
    assert result.breakdown["ccc_arousal"] == 1.0  # both the same constant: 0/0 defined as perfect agreement
    assert result.value == 0.5
    assert any("label" in w and "valence" in w for w in result.warnings)
    assert any("reported as 1" in w and "arousal" in w for w in result.warnings)
    different = _va(np.full((30, 2), 0.5), target)
    assert different.value == 0.0  # two different constants: (μx − μy)² > 0, covariance 0


def test_dimension_with_no_valid_frame_is_rejected() -> None:
    target = np.column_stack([np.full(10, -5.0), np.zeros(10)])
    with pytest.raises(AbawError, match=r"CCC\(valence\): all 10 label rows are -5"):
        _va(np.zeros((10, 2)), target)


def test_empty_input_is_rejected() -> None:
    with pytest.raises(AbawError, match="empty input"):
        _va(np.empty((0, 2)), np.empty((0, 2)))


def test_non_finite_predictions_name_count_and_first_row() -> None:
    pred = np.zeros((8, 2))
    pred[6, 1] = np.nan
    with pytest.raises(AbawError, match=r"predictions: .*1 NaN/inf value\(s\) \(first at row 6\)"):
        _va(pred, np.zeros((8, 2)))


@pytest.mark.parametrize(("pred_shape", "target_shape"), [((8, 2), (7, 2)), ((8, 3), (8, 2)), ((8, 2), (8,))])
def test_shape_mismatch_is_rejected(pred_shape: tuple, target_shape: tuple) -> None:
    with pytest.raises(AbawError):
        _va(np.zeros(pred_shape), np.zeros(target_shape))
