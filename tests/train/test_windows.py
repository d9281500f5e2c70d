"""Frame-level sampling: windows tile every frame, overlaps average, centred windows stay centred at the edges,
reassembly returns every reference row once and in order; the balanced sampler; the threshold sweep."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.train.calibration import sweep_threshold, threshold_grid
from abaw_bench.harness.train.sampler import BalancedSampler, SegmentSampler
from abaw_bench.harness.train.windows import (
    FrameDataset,
    InputAlignment,
    build_grids,
    centred_frames,
    centred_span,
    interpolate_rows,
    spread_rows,
    window_starts,
)


class Facts:
    invalid_label = -5.0

    @staticmethod
    def parse_frame_id(row_id: str) -> tuple[str, int]:
        video, _, frame = row_id.rpartition("/")
        return video, int(frame)


class Rows:
    """A feature source whose row r of video v holds (v, r): what a window read is checked against."""

    dim = 2

    def __init__(self, lengths: dict[str, int]) -> None:
        self.arrays = {v: np.stack([np.full(n, i, np.float32), np.arange(n, dtype=np.float32)], axis=1)
                       for i, (v, n) in enumerate(lengths.items())}

    def get(self, item_id: str) -> np.ndarray:
        return self.arrays[item_id]


@pytest.mark.parametrize("length,stride", [(6, 6), (6, 3), (6, 1), (1000, 200), (64, 32)])
def test_window_starts_cover_every_frame_and_keep_the_tail(length: int, stride: int) -> None:
    for n_frames in [1, 2, 5, 6, 7, 13, 64, 65, 999, 1000, 1001, 2345]:
        starts = window_starts(n_frames, length, stride)
        covered = np.zeros(n_frames, dtype=int)
        for start in starts:
            covered[start:start + length] += 1
        assert covered.min() >= 1, (n_frames, starts)
        assert starts == sorted(set(starts)) and starts[0] == 0 and starts[-1] < n_frames
        if stride == length:  # non-overlapping: every frame exactly once
            assert covered.max() == 1


def _dataset(lengths: dict[str, int], sampling: str, samples: list[tuple[int, int]], *, window: int = 4,
             row_order: list[str] | None = None) -> FrameDataset:
    row_ids = row_order or [f"{v}/{f}" for v, n in lengths.items() for f in range(n)]
    labels = np.arange(len(row_ids), dtype=np.float64)[:, None]
    split = build_grids(Facts, list(lengths), row_ids, labels)
    return FrameDataset(split, sampling, samples, {"x": Rows(lengths)}, {"x": InputAlignment("audio", 1.0)},
                        window=window, frame_rates=dict.fromkeys(lengths, 4.0))


def test_non_overlapping_windows_predict_every_reference_row_exactly_once_in_reference_order() -> None:
    lengths = {"a": 9, "b": 3, "c": 4}
    rows = [f"{v}/{f}" for v, n in lengths.items() for f in range(n)]
    shuffled = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))]
    samples = [(g, s) for g, n in enumerate(lengths.values()) for s in window_starts(n, 4, 4)]
    dataset = _dataset(lengths, "windows", samples, row_order=shuffled)
    outputs = [dataset[i]["features"]["x"] for i in range(len(dataset))]  # each frame's own (video, frame) row
    assembled = dataset.assemble(np.arange(len(dataset)), outputs)
    expected = np.array([[list(lengths).index(r.split("/")[0]), int(r.split("/")[1])] for r in shuffled])
    np.testing.assert_array_equal(assembled, expected)


def test_overlapping_windows_are_averaged() -> None:
    lengths = {"a": 10}
    samples = [(0, s) for s in window_starts(10, 4, 2)]
    dataset = _dataset(lengths, "windows", samples)
    outputs = [np.full((4, 1), float(i)) for i in range(len(samples))]  # sample i predicts i on all its frames
    assembled = dataset.assemble(np.arange(len(samples)), outputs)[:, 0]
    for frame in range(10):
        covering = [i for i, (_, s) in enumerate(samples) if s <= frame < s + 4]
        assert assembled[frame] == pytest.approx(np.mean(covering))


def test_tail_window_is_padded_not_dropped_and_its_targets_stop_at_the_video_end() -> None:
    dataset = _dataset({"a": 7}, "windows", [(0, s) for s in window_starts(7, 4, 4)])
    last = dataset[len(dataset) - 1]
    assert last["features"]["x"].shape == (3, 2) and last["target"].shape == (3, 1)
    np.testing.assert_array_equal(last["features"]["x"][:, 1], [4, 5, 6])


@pytest.mark.parametrize("centre", [0, 1, 50, 98, 99])
def test_centred_span_stays_centred_at_the_edges(centre: int) -> None:
    length, width = 100, 20
    indices = centred_span(centre, width, length, None)
    assert indices.min() >= 0 and indices.max() < length
    full = np.arange(centre - width // 2, centre + width // 2)  # the window a middle frame gets
    np.testing.assert_array_equal(indices, full[(full >= 0) & (full < length)])
    resampled = centred_span(centre, 500, length, 400)  # 400 equidistant rows over 500 source rows
    kept = np.rint(centre - 250 + (np.arange(400) + 0.5) * 500 / 400)
    np.testing.assert_array_equal(resampled, kept[(kept >= 0) & (kept < length)])
    if 250 <= centre <= length - 250:
        assert len(resampled) == 400


def test_centred_samples_fill_the_frames_between_with_the_nearest_decision() -> None:
    lengths = {"a": 10}
    split = build_grids(Facts, ["a"], [f"a/{f}" for f in range(10)], None)
    frames = centred_frames(split.grids[0], 3, labelled_only=False)
    assert frames == [0, 3, 6, 9]
    dataset = _dataset(lengths, "centred", [(0, f) for f in frames])
    assembled = dataset.assemble(np.arange(4), [np.array([float(f)]) for f in frames])[:, 0]
    np.testing.assert_array_equal(assembled, [0, 0, 3, 3, 3, 6, 6, 6, 9, 9])  # ties (1.5 away) go to the earlier


def test_grids_mask_invalid_labels_and_frames_without_a_face() -> None:
    labels = np.array([[0.5], [-5.0], [0.1], [0.2], [0.3]])
    split = build_grids(Facts, ["a"], [f"a/{f}" for f in range(5)], labels, face_positions={"a": [0, 3, 4]})
    grid = split.grids[0]
    np.testing.assert_array_equal(np.isnan(grid.targets[:, 0]), [False, True, True, False, False])
    np.testing.assert_array_equal(grid.has_face, [True, False, False, True, True])
    np.testing.assert_array_equal(grid.face_rows, [0, 0, 1, 1, 2])  # frame 1 → crop of frame 0, frame 2 → frame 3
    with pytest.raises(AbawError, match="not an item of the split"):
        build_grids(Facts, ["a"], ["b/0"], None)


def test_interpolation_matches_torch_linear_without_corner_alignment() -> None:
    source = np.random.default_rng(0).normal(size=(37, 3)).astype(np.float32)
    expected = torch.nn.functional.interpolate(torch.from_numpy(source.T[None]), size=101, mode="linear",
                                               align_corners=False)[0].T.numpy()
    np.testing.assert_allclose(interpolate_rows(source, 101, np.arange(101)), expected, atol=1e-5)
    np.testing.assert_allclose(interpolate_rows(source, 101, np.arange(40, 60)), expected[40:60], atol=1e-5)


def test_balanced_sampler_draws_both_classes_equally_and_shards_one_draw() -> None:
    classes = np.array([1] * 20 + [0] * 180)
    sampler = BalancedSampler(classes, seed=7)
    draws = []
    for epoch in range(20):
        sampler.set_epoch(epoch)
        draws += list(sampler)
    share = classes[np.array(draws)].mean()
    assert abs(share - 0.5) < 0.03  # 4,000 draws: the standard error is 0.008
    sampler.set_epoch(3)
    again = BalancedSampler(classes, seed=7)
    again.set_epoch(3)
    assert list(sampler) == list(again)
    ranks = [BalancedSampler(classes, seed=7, rank=r, world_size=2) for r in range(2)]
    for rank in ranks:
        rank.set_epoch(3)
    merged = sorted(list(ranks[0]) + list(ranks[1]))
    assert merged == sorted(again.global_draw().tolist()) and len(ranks[0]) == len(ranks[1]) == 100
    with pytest.raises(AbawError, match="two classes"):
        BalancedSampler(np.zeros(5, dtype=int), seed=0)


def test_segment_sampler_draws_one_inner_frame_per_segment_and_undersamples_the_majority() -> None:
    # one video: segments [0-9] class 0, [10-29] class 1, [30-39] class 0, [40-59] class 0 after a frame gap at 40
    labels = np.zeros((60, 1), dtype=np.float32)
    labels[10:30] = 1
    labels[40] = np.nan  # no usable label: not a sample, and not a segment boundary either
    row_ids = [f"v/{frame}" for frame in range(60)]
    split = build_grids(Facts(), ["v"], row_ids, labels)
    frames = centred_frames(split.grids[0], 1, labelled_only=True)
    dataset = FrameDataset(split, "centred", [(0, frame) for frame in frames], {}, {})
    segments, segment_frames, classes = dataset.sample_segments()
    assert [(int(f[0]), int(f[-1])) for f in segment_frames] == [(0, 9), (10, 29), (30, 59)]
    assert classes.tolist() == [0, 1, 0]
    sampler = SegmentSampler(segments, segment_frames, classes, seed=3)
    assert len(sampler) == sampler.epoch_samples == 2  # the one class-1 segment and one of the two class-0 segments
    chosen_majority = set()
    for epoch in range(40):
        sampler.set_epoch(epoch)
        drawn = [dataset.samples[i][1] for i in sampler]
        assert sorted(int(labels[frame, 0]) for frame in drawn) == [0, 1]
        for frame in drawn:
            first, last = next((int(f[0]), int(f[-1])) for f in segment_frames if f[0] <= frame <= f[-1])
            assert first + 0.12 * (last - first) - 1 <= frame <= first + 0.88 * (last - first)
        chosen_majority |= {frame >= 30 for frame in drawn if labels[frame, 0] == 0}
    assert chosen_majority == {False, True}  # both majority segments get their turn
    ranks = [SegmentSampler(segments, segment_frames, classes, seed=3, rank=r, world_size=2) for r in range(2)]
    sampler.set_epoch(5)
    for rank in ranks:
        rank.set_epoch(5)
    assert sorted(list(ranks[0]) + list(ranks[1])) == sorted(sampler.global_draw().tolist())
    with pytest.raises(AbawError, match="two classes"):
        SegmentSampler(segments[:1], segment_frames[:1], classes[:1], seed=0)


def test_threshold_sweep_picks_the_first_argmax() -> None:
    grid = threshold_grid(0.40, 0.75, 0.001)
    assert len(grid) == 351 and grid[0] == 0.40 and grid[-1] == 0.75
    probabilities = np.array([0.2, 0.45, 0.55, 0.61, 0.7, 0.9])
    labels = np.array([0, 0, 1, 1, 0, 1])

    def accuracy(threshold: float) -> float:
        return float(((probabilities >= threshold).astype(int) == labels).mean())

    best, value, scores = sweep_threshold(accuracy, grid)
    assert value == max(scores) == pytest.approx(5 / 6)
    assert best == pytest.approx(0.451)  # first of the tied best: every threshold in (0.45, 0.55] scores 5/6
    assert accuracy(best) == value


def test_centred_windows_are_placed_at_each_videos_own_frame_rate() -> None:
    """Frame 48 lies at 2 s in a 24 fps video and at 1.92 s at 25 fps: the audio window (50 rows/s) follows."""
    labels = np.zeros((200, 1), dtype=np.float32)
    split = build_grids(Facts(), ["a", "b"], [f"{v}/{f}" for v in "ab" for f in range(100)], labels)

    class Rows:
        dim = 1

        @staticmethod
        def get(item_id: str) -> np.ndarray:
            return np.arange(500, dtype=np.float32)[:, None]

    alignment = {"audio": InputAlignment("audio", 0.2)}
    dataset = FrameDataset(split, "centred", [(0, 48), (1, 48)], {"audio": Rows()}, alignment,
                           frame_rates={"a": 24.0, "b": 25.0})
    assert dataset[0]["features"]["audio"][:, 0].tolist() == list(range(95, 105))  # centre row 100 = 2 s
    assert dataset[1]["features"]["audio"][:, 0].tolist() == list(range(91, 101))  # centre row 96 = 1.92 s


def test_a_video_whose_label_frames_disagree_with_its_container_is_reported(tmp_path) -> None:
    from abaw_bench.harness.tasks import get_task
    from abaw_bench.harness.tasks.base import Item
    from abaw_bench.harness.train.datasets import video_timings

    from tests.media.test_media import write_mp4

    video = write_mp4(tmp_path / "clip.mp4", seconds=2.0, fps=24)  # 48 frames
    items = [Item("fits", "train", {"video": video}), Item("long", "train", {"video": video}),
             Item("silent", "train", {})]
    counts = {"fits": 49, "long": 50, "silent": 10}  # one frame off is tolerated, two is not
    row_ids = [f"{item}/{frame}" for item, count in counts.items() for frame in range(count)]
    split = build_grids(Facts(), list(counts), row_ids, np.zeros((len(row_ids), 1), np.float32))
    bah = get_task("bah")
    rates, notes = video_timings(bah, items, split, "train")
    assert rates == {"fits": 24.0, "long": 24.0, "silent": bah.fps}  # no file: the task's assumed rate
    assert len(notes) == 2 and "video long: 50 label frames" in notes[0] and "48 frames at 24 fps" in notes[0]
    assert "silent" in notes[1] and f"assume {bah.fps:g} fps" in notes[1]
    assert get_task("va").fps is None
    with pytest.raises(AbawError, match=r"video silent has no video file .* task 'va' states no frame rate"):
        video_timings(get_task("va"), items, split, "train")


@pytest.mark.parametrize("n_rows,n_frames,expected", [
    (3, 10, [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]),  # more frames: 10 = 4 + 3 + 3, the longer block first
    (2, 7, [0, 0, 0, 0, 1, 1, 1]),
    (4, 4, [0, 1, 2, 3]),  # as many: one frame each
    (5, 3, [0, 1, 2]),  # more rows than frames: the rows past the last frame are dropped
    (1, 5, [0, 0, 0, 0, 0]),
    (4, 11, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3]),  # 11 = 3 + 3 + 3 + 2
])
def test_spread_cuts_the_frames_into_near_equal_blocks_in_row_order(n_rows: int, n_frames: int,
                                                                    expected: list[int]) -> None:
    """The BAH dataset authors' rule (more_itertools.divide(n, frames), block j taking row j), on small numbers."""
    assert spread_rows(n_rows, n_frames, np.arange(n_frames)).tolist() == expected


def test_spread_blocks_are_contiguous_and_differ_by_at_most_one_frame() -> None:
    for n_frames in range(1, 40):
        for n_rows in range(1, 45):
            rows = spread_rows(n_rows, n_frames, np.arange(n_frames))
            sizes = np.bincount(rows)
            assert len(sizes) == min(n_rows, n_frames) and sizes.min() >= 1
            assert np.all(np.diff(rows) >= 0) and sizes.max() - sizes.min() <= 1
            assert np.all(np.diff(sizes) <= 0)  # the longer blocks come first
    with pytest.raises(AbawError, match="cannot spread 0 feature rows"):
        spread_rows(0, 5, np.arange(5))


def test_a_window_reads_the_spread_rows_of_its_own_frames() -> None:
    """A "spread" input under windows sampling: each window's frames take the rows of the whole video's blocks (the
    spread is over the video, not over the window); the last window's padding frames are not read."""
    tokens = {"a": 3}  # 3 untimed rows over a 10-frame video

    class Tokens:
        dim = 1

        @staticmethod
        def get(item_id: str) -> np.ndarray:
            return np.arange(tokens[item_id], dtype=np.float32)[:, None] * 10

    split = build_grids(Facts, ["a"], [f"a/{f}" for f in range(10)], np.zeros((10, 1)))
    dataset = FrameDataset(split, "windows", [(0, 0), (0, 4), (0, 8)], {"x": Tokens()},
                           {"x": InputAlignment("spread")}, window=4)
    assert [dataset[i]["features"]["x"][:, 0].tolist() for i in range(3)] == [
        [0, 0, 0, 0], [10, 10, 10, 20], [20, 20]]
    with pytest.raises(ValueError, match=r"InputAlignment\.kind 'stretch'"):
        InputAlignment("stretch")
