"""Decision thresholds for binary tasks, swept on validation after training and applied unchanged to test."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def threshold_grid(first: float, last: float, step: float) -> np.ndarray:
    """first, first + step, ..., last (inclusive; rounded so that 0.40 + k·0.001 prints as written)."""
    count = int(np.floor((last - first) / step + 1e-9)) + 1
    return np.round(first + step * np.arange(count), 10)


def sweep_threshold(score_at: Callable[[float], float], thresholds: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(threshold, its score, every threshold's score): the first threshold with the highest score.

    `score_at(t)` is the task metric of the 0/1 predictions "probability >= t"; NaN scores never win.
    """
    scores = np.array([score_at(float(threshold)) for threshold in thresholds])
    finite = np.where(np.isnan(scores), -np.inf, scores)
    best = int(np.argmax(finite))
    return float(thresholds[best]), float(scores[best]), scores
