"""The stateful wrappers fed in chunks give the one-shot result; reset starts over; the package stays numpy-only."""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.metrics import (
    BahFrameMetric,
    BahVideoMetric,
    EmiMetric,
    ExprMetric,
    VaMetric,
    bah_frame_metric,
    bah_video_metric,
    emi_metric,
    expr_metric,
    va_metric,
)
from abaw_bench.harness.tasks.affwild2 import EXPR, EXPR_CLASSES, VA

NAMES = ("a", "b", "c", "d", "e", "f")


def _chunks(n: int, rng: np.random.Generator) -> list[slice]:
    """Uneven chunk boundaries, including an empty chunk."""
    cuts = np.sort(rng.integers(0, n + 1, size=5))
    edges = [0, *cuts.tolist(), n]
    return [slice(a, b) for a, b in itertools.pairwise(edges)]


def _assert_same(chunked, one_shot) -> None:
    assert chunked.metric == one_shot.metric
    assert chunked.value == pytest.approx(one_shot.value, abs=1e-12)
    assert chunked.breakdown.keys() == one_shot.breakdown.keys()
    for key, value in one_shot.breakdown.items():
        assert chunked.breakdown[key] == pytest.approx(value, abs=1e-12)
    assert chunked.warnings == one_shot.warnings
    assert chunked.extra == one_shot.extra


@pytest.mark.parametrize("seed", range(3))
def test_chunked_equals_one_shot(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    emi_pred, emi_target = rng.random((n, 6)), rng.random((n, 6))
    emi_pred[:, 2] = 0.5  # a constant column: the warning must be the same too
    va_target = rng.uniform(-1, 1, (n, 2))
    va_target[rng.random(n) < 0.2, 0] = -5.0
    va_pred = rng.uniform(-1, 1, (n, 2))
    bin_target = (rng.random(n) < 0.2).astype(int)
    bin_pred = (rng.random(n) < 0.3).astype(int)
    scores = rng.random(n)
    expr_target = rng.integers(-1, 7, n)  # class 7 never labelled
    expr_pred = rng.integers(0, 7, n)  # nor predicted: excluded, with a warning

    metrics = (EmiMetric(NAMES), VaMetric(VA.header, VA.invalid), BahFrameMetric(), BahVideoMetric(),
               ExprMetric(EXPR_CLASSES, int(EXPR.invalid)))
    for part in _chunks(n, rng):
        metrics[0].update(emi_pred[part], emi_target[part])
        metrics[1].update(va_pred[part], va_target[part])
        metrics[2].update(bin_pred[part], bin_target[part], scores[part])
        metrics[3].update(bin_pred[part], bin_target[part])
        metrics[4].update(expr_pred[part], expr_target[part])

    _assert_same(metrics[0].compute(), emi_metric(emi_pred, emi_target, NAMES))
    _assert_same(metrics[1].compute(), va_metric(va_pred, va_target, VA.header, VA.invalid))
    _assert_same(metrics[2].compute(), bah_frame_metric(bin_pred, bin_target, scores))
    _assert_same(metrics[3].compute(), bah_video_metric(bin_pred, bin_target))
    _assert_same(metrics[4].compute(), expr_metric(expr_pred, expr_target, EXPR_CLASSES, int(EXPR.invalid)))


def test_compute_is_repeatable_and_reset_starts_over() -> None:
    metric = BahFrameMetric()
    metric.update([1, 0, 1], [1, 1, 1], [0.9, 0.1, 0.8])
    first = metric.compute()
    assert metric.compute() == first
    metric.reset()
    with pytest.raises(AbawError, match="empty input"):
        metric.compute()
    metric.update([0, 0], [0, 1])  # after reset, updates without scores are fine again
    _assert_same(metric.compute(), bah_frame_metric([0, 0], [0, 1]))


@pytest.mark.parametrize("factory", [lambda: EmiMetric(NAMES), lambda: VaMetric(VA.header, VA.invalid), BahFrameMetric,
                                     BahVideoMetric, lambda: ExprMetric(EXPR_CLASSES, int(EXPR.invalid))])
def test_compute_without_rows_is_an_error(factory) -> None:
    with pytest.raises(AbawError, match="empty input"):
        factory().compute()


def test_a_bad_chunk_leaves_the_state_unchanged() -> None:
    metric = VaMetric(VA.header, VA.invalid)
    metric.update(np.array([[0.1, 0.2], [0.3, 0.1]]), np.array([[0.1, 0.3], [0.2, 0.2]]))
    before = metric.compute()
    with pytest.raises(AbawError, match="first at row 0"):
        metric.update(np.array([[np.inf, 0.0]]), np.zeros((1, 2)))
    assert metric.compute() == before


def test_emi_metric_needs_names() -> None:
    with pytest.raises(AbawError, match="at least one emotion name"):
        EmiMetric(())


def test_importing_metrics_does_not_import_torch() -> None:
    code = "import sys, abaw_bench.harness.metrics; assert 'torch' not in sys.modules and 'sklearn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
