"""Speed of the reference metrics against the obvious alternatives, on BAH-test-sized input (335,110 frames).

Run: pytest benchmarks/bench_metrics.py --benchmark-only -s
Each pair (ours, reference) is timed in the same run; at the end the module prints reference median / our median.
The issue's target for frame-level F1 is >= 30x faster than sklearn.metrics.f1_score(average="weighted").
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from abaw_bench.harness.metrics import bah_frame_metric
from sklearn.metrics import f1_score

N_FRAMES = 335_110  # frames in the BAH public release's test split


@pytest.fixture(scope="module")
def frames() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    target = (rng.random(N_FRAMES) < 0.207).astype(np.int64)  # 20.7 % positive, as in the ABAW-8 training labels
    scores = np.clip(0.25 * target + rng.random(N_FRAMES) * 0.8, 0.0, 1.0)
    return {"target": target, "pred": (scores >= 0.5).astype(np.int64), "scores": scores}


@pytest.fixture(scope="module")
def medians() -> Iterator[dict[str, float]]:
    """Collects each benchmark's median; prints the speed-up of every (ours, reference) pair at module teardown."""
    found: dict[str, float] = {}
    yield found
    print()
    for ours, reference in (("f1_ours", "f1_sklearn"), ("ap_ours", "ap_naive_loop")):
        if ours in found and reference in found:
            print(
                f"{ours} median {found[ours] * 1e3:.3f} ms vs {reference} {found[reference] * 1e3:.3f} ms: "
                f"{found[reference] / found[ours]:.1f}x faster ({N_FRAMES:,} frames)"
            )


def naive_ap(scores: np.ndarray, target: np.ndarray) -> float:
    """The AP definition as a loop over the 1000 thresholds, each counting over every frame."""
    positive = target == 1
    precision, recall = np.zeros(1000), np.zeros(1000)
    for k, threshold in enumerate(np.arange(0, 1, 0.001)):  # the organisers' grid
        pred = scores >= threshold
        tp = np.count_nonzero(pred & positive)
        n_pred = np.count_nonzero(pred)
        precision[k] = tp / n_pred if n_pred else 0.0
        recall[k] = tp / np.count_nonzero(positive)
    return float(np.trapezoid(precision[::-1], recall[::-1]))


@pytest.mark.benchmark(group="frame-f1")
def test_f1_ours(benchmark, frames, medians) -> None:
    result = benchmark(bah_frame_metric, frames["pred"], frames["target"])
    assert abs(result.value - f1_score(frames["target"], frames["pred"], average="weighted")) < 1e-12
    medians["f1_ours"] = benchmark.stats.stats.median


@pytest.mark.benchmark(group="frame-f1")
def test_f1_sklearn(benchmark, frames, medians) -> None:
    benchmark(f1_score, frames["target"], frames["pred"], average="weighted")
    medians["f1_sklearn"] = benchmark.stats.stats.median


@pytest.mark.benchmark(group="average-precision")
def test_ap_ours(benchmark, frames, medians) -> None:
    result = benchmark(bah_frame_metric, frames["pred"], frames["target"], frames["scores"])
    assert abs(result.breakdown["average_precision"] - naive_ap(frames["scores"], frames["target"])) < 1e-9
    medians["ap_ours"] = benchmark.stats.stats.median


@pytest.mark.benchmark(group="average-precision")
def test_ap_naive_loop(benchmark, frames, medians) -> None:
    benchmark.pedantic(naive_ap, args=(frames["scores"], frames["target"]), rounds=3, iterations=1)
    medians["ap_naive_loop"] = benchmark.stats.stats.median
