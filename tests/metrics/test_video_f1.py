"""BAH video-level macro F1 against sklearn, and frame → video aggregation against a plain per-video loop."""

from __future__ import annotations

import numpy as np
import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.metrics import aggregate_frames_to_videos, bah_video_metric
from sklearn.metrics import f1_score

TOL = 1e-12


def _random_frames(seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_videos = int(rng.integers(1, 60))
    lengths = rng.integers(1, 12, size=n_videos)  # short videos make exact ties common
    names = [f"v{rng.integers(0, 10**6)}_{i}" for i in range(n_videos)]
    groups = [name for name, length in zip(names, lengths, strict=True) for _ in range(length)]
    order = rng.permutation(len(groups)) if seed % 2 else np.arange(len(groups))  # interleaved videos too
    groups = [groups[i] for i in order]
    prob = rng.random(len(groups))
    return groups, (prob >= 0.5).astype(np.int64), prob


def _per_video_reference(groups: list[str], values: np.ndarray) -> tuple[list[str], list[int]]:
    frames: dict[str, list[float]] = {}
    for group, value in zip(groups, values, strict=True):
        frames.setdefault(group, []).append(float(value))
    return list(frames), [int(np.mean(v) >= 0.5) for v in frames.values()]


@pytest.mark.parametrize("seed", range(6))
def test_macro_f1_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 600))
    target = (rng.random(n) < 0.3).astype(np.int64)
    pred = np.where(rng.random(n) < 0.3, 1 - target, target)
    result = bah_video_metric(pred, target)
    assert result.metric == "macro_f1"
    expected = f1_score(target, pred, labels=[0, 1], average="macro", zero_division=np.nan)
    assert abs(result.value - expected) <= TOL
    per_class = f1_score(target, pred, labels=[0, 1], average=None, zero_division=np.nan)
    for k in (0, 1):
        assert np.isnan(per_class[k]) == (f"f1_class{k}" not in result.breakdown)


def test_single_class_everywhere_is_perfect_with_warning() -> None:
    result = bah_video_metric([1, 1, 1], [1, 1, 1])
    assert result.value == 1.0 == f1_score([1, 1, 1], [1, 1, 1], labels=[0, 1], average="macro", zero_division=np.nan)
    assert result.warnings and "'0'" in result.warnings[0]


@pytest.mark.parametrize("seed", range(6))
def test_majority_and_mean_aggregation_match_a_per_video_loop(seed: int) -> None:
    groups, frame_pred, frame_prob = _random_frames(seed)
    ids, video_pred = aggregate_frames_to_videos(groups, frame_pred=frame_pred, method="majority")
    expected_ids, expected = _per_video_reference(groups, frame_pred)
    assert ids == expected_ids
    np.testing.assert_array_equal(video_pred, expected)
    ids, video_pred = aggregate_frames_to_videos(groups, frame_prob=frame_prob, method="mean")
    expected_ids, expected = _per_video_reference(groups, frame_prob)
    assert ids == expected_ids
    np.testing.assert_array_equal(video_pred, expected)


def test_tie_goes_to_positive_and_order_is_first_appearance() -> None:
    ids, pred = aggregate_frames_to_videos(["b", "a", "b", "a", "a"], frame_pred=[1, 0, 0, 0, 1])
    assert ids == ["b", "a"]
    assert pred.tolist() == [1, 0]  # b: 1 of 2 (tie → 1); a: 1 of 3
    ids, pred = aggregate_frames_to_videos(["x", "x"], frame_prob=[0.25, 0.75], method="mean")
    assert pred.tolist() == [1]  # mean exactly 0.5 → 1


def test_aggregation_input_errors() -> None:
    with pytest.raises(AbawError, match="unknown aggregation method 'median'"):
        aggregate_frames_to_videos(["a"], frame_pred=[1], method="median")
    with pytest.raises(AbawError, match="needs frame_prob"):
        aggregate_frames_to_videos(["a"], frame_pred=[1], method="mean")
    with pytest.raises(AbawError, match="needs frame_pred"):
        aggregate_frames_to_videos(["a"], frame_prob=[0.3])
    with pytest.raises(AbawError, match="frame values have 2 rows but frame groups have 1"):
        aggregate_frames_to_videos(["a"], frame_pred=[1, 0])
    with pytest.raises(AbawError, match=r"frame probabilities: .*\(first at row 1\)"):
        aggregate_frames_to_videos(["a", "a"], frame_prob=[0.3, np.nan], method="mean")
    with pytest.raises(AbawError, match="empty input"):
        aggregate_frames_to_videos([], frame_pred=[])


def test_video_metric_input_errors() -> None:
    with pytest.raises(AbawError, match=r"video predictions: expected 0 or 1.*first at row 1: 2"):
        bah_video_metric([0, 2], [0, 1])
    with pytest.raises(AbawError, match="video predictions have 2 rows but video labels have 3"):
        bah_video_metric([0, 1], [0, 1, 1])
    with pytest.raises(AbawError, match="empty input"):
        bah_video_metric([], [])
