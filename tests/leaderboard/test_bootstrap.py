"""The bootstrap (units, seeded resamples, intervals, paired differences) and the val_predictions.csv reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.tasks import get_task
from abaw_bench.harness.tasks.base import Table
from abaw_bench.leaderboard import bootstrap
from abaw_bench.leaderboard.predictions import read_predictions


def test_group_units_resample_whole_videos() -> None:
    groups = ["v1"] * 3 + ["v2"] * 5 + ["v3"] * 1 + ["v1"] * 2  # v1's frames need not be contiguous
    units = bootstrap.units_of(groups, len(groups))
    assert (units.count, units.name, units.sizes.tolist()) == (3, "videos", [5, 5, 1])
    rng = np.random.default_rng(0)
    for _ in range(50):
        rows = units.draw(rng)
        drawn = [groups[i] for i in rows]
        for video, size in (("v1", 5), ("v2", 5), ("v3", 1)):
            assert drawn.count(video) % size == 0  # a video is drawn with all its frames or not at all
        for video in set(drawn):  # each copy of a video holds each of its frames once
            own = [j for j, group in enumerate(groups) if group == video]
            copies = drawn.count(video) // len(own)
            assert sorted(int(i) for i in rows if groups[i] == video) == sorted(own * copies)


def test_item_units_and_draws_depend_only_on_the_seed_and_order_of_first_appearance() -> None:
    assert bootstrap.units_of(None, 7, "clips").sizes.tolist() == [1] * 7
    a = bootstrap.units_of(["b", "b", "a", "c"], 4)
    renamed = bootstrap.units_of(["x", "x", "y", "z"], 4)  # same structure, other names (sorted differently)
    draws = [units.draw(np.random.default_rng(3)).tolist() for units in (a, renamed)]
    assert draws[0] == draws[1]


def test_interval_of_a_mean_has_the_textbook_width() -> None:
    """The 95 % percentile interval of the mean of n normal draws is about 2 × 1.96 × sd / √n wide."""
    values = np.random.default_rng(1).normal(size=400)
    units = bootstrap.units_of(None, len(values))
    replicated = bootstrap.replicate([lambda rows: float(values[rows].mean())], units, resamples=2000, seed=0)
    low, high = bootstrap.interval(replicated[:, 0])
    assert low < values.mean() < high
    assert high - low == pytest.approx(2 * 1.96 * values.std() / np.sqrt(len(values)), rel=0.1)
    again = bootstrap.replicate([lambda rows: float(values[rows].mean())], units, resamples=2000, seed=0)
    assert np.array_equal(replicated, again)
    assert not np.array_equal(replicated, bootstrap.replicate([lambda rows: float(values[rows].mean())], units,
                                                              resamples=2000, seed=1))


def test_undefined_resamples_are_nan_and_too_many_give_no_interval() -> None:
    def sometimes(rows: np.ndarray) -> float:
        if rows[0] % 2:
            raise AbawError("undefined on this resample")
        return 1.0

    values = bootstrap.replicate([sometimes], bootstrap.units_of(None, 10), resamples=100, seed=0)
    assert 0 < np.isnan(values).sum() < 100
    assert bootstrap.interval(np.array([np.nan] * 60 + [1.0] * 40)) is None
    assert bootstrap.interval(np.array([np.nan] * 40 + [1.0] * 60)) == (1.0, 1.0)


def _emi_predictions(kit, tmp_path: Path, noise: float, seed: int, name: str) -> Path:
    ids, labels = kit.emi_labels()
    predictions = np.clip(labels + np.random.default_rng(seed).normal(0, noise, size=labels.shape), 0, 1)
    path = tmp_path / f"{name}.csv"
    path.write_text(kit.predictions_csv(ids, predictions, labels, kit.EMI_COLUMNS), encoding="utf-8")
    return path


def test_paired_difference_of_a_run_with_itself_and_of_a_clearly_better_run(kit, tmp_path: Path) -> None:
    good = read_predictions(_emi_predictions(kit, tmp_path, 0.1, 1, "good"))
    bad = read_predictions(_emi_predictions(kit, tmp_path, 0.8, 2, "bad"))
    units = bootstrap.units_of(None, len(good.labels), "clips")
    stat_good = bootstrap.task_statistic("emi", good, "mean_pearson")
    stat_bad = bootstrap.task_statistic("emi", bad, "mean_pearson")
    same = bootstrap.paired_difference(stat_good, stat_good, units, resamples=200)
    assert (same.difference, same.interval, same.a_better_share) == (0.0, (0.0, 0.0), 0.5)
    better = bootstrap.paired_difference(stat_good, stat_bad, units, resamples=200)
    assert better.value_a == pytest.approx(get_task("emi").score(good.predictions, good.labels).value)
    assert better.difference == pytest.approx(better.value_a - better.value_b)
    assert better.interval[0] > 0 and better.a_better_share > 0.95
    assert (better.units, better.unit_name, better.undefined) == (40, "clips", 0)
    mirrored = bootstrap.paired_difference(stat_bad, stat_good, units, resamples=200)
    assert mirrored.difference == pytest.approx(-better.difference)
    assert mirrored.a_better_share == pytest.approx(1 - better.a_better_share)
    assert mirrored.interval == pytest.approx((-better.interval[1], -better.interval[0]))


def test_statistic_checks_the_metric_the_run_reported(kit, tmp_path: Path) -> None:
    predictions = read_predictions(_emi_predictions(kit, tmp_path, 0.1, 1, "run"))
    with pytest.raises(AbawError, match="scored as 'mean_pearson' by task 'emi', but the run reports 'mean_ccc'"):
        bootstrap.task_statistic("emi", predictions, "mean_ccc")


def test_frame_level_predictions_carry_groups_and_resample_videos(kit, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    videos = [f"video{v}" for v in range(4) for _ in range(25)]
    ids = [f"{video}/{i % 25 + 1:05d}.jpg" for i, video in enumerate(videos)]
    labels = rng.uniform(-1, 1, size=(100, 2))
    labels[3, 0] = -5  # an invalid valence frame: masked by the metric, kept by the reader
    path = tmp_path / "va.csv"
    path.write_text(kit.predictions_csv(ids, labels * 0.8, labels, ("valence", "arousal"), groups=videos),
                    encoding="utf-8")
    predictions = read_predictions(path)
    assert predictions.groups == videos and predictions.labels.columns == ("valence", "arousal")
    units = bootstrap.units_of(predictions.groups, len(predictions.labels))
    assert (units.count, units.name) == (4, "videos")
    statistic = bootstrap.task_statistic("va", predictions, "mean_ccc")
    values = bootstrap.replicate([statistic], units, resamples=30, seed=0)[:, 0]
    full = get_task("va").score(predictions.predictions, predictions.labels).value
    assert statistic(np.arange(100)) == pytest.approx(full)
    assert np.isfinite(values).all() and values.min() <= full + 1e-9


def test_bah_predictions_may_add_columns_the_labels_lack(kit, tmp_path: Path) -> None:
    ids = [f"v/frame-{i}.jpg" for i in range(6)]
    labels = np.array([[0], [1], [1], [0], [1], [0]], dtype=float)
    predictions = np.array([[0, 0.2], [1, 0.9], [0, 0.4], [0, 0.1], [1, 0.7], [1, 0.6]])
    path = tmp_path / "bah.csv"
    path.write_text(kit.predictions_csv(ids, predictions, labels, ("label", "p1"), groups=["v"] * 6,
                                        label_columns=("label",)), encoding="utf-8")
    read = read_predictions(path)
    assert (read.predictions.columns, read.labels.columns) == (("label", "p1"), ("label",))
    expected = get_task("bah").score(Table(ids, predictions, ("label", "p1")), Table(ids, labels, ("label",)))
    assert bootstrap.task_statistic("bah", read, "weighted_f1")(np.arange(6)) == pytest.approx(expected.value)


@pytest.mark.parametrize(("text", "message"), [
    ("", "line 1: expected the header to start with 'id', found an empty line"),
    ("clip,Joy,label:Joy\n1,0.5,0.5\n", "line 1: expected the header to start with 'id', found 'clip'"),
    ("id,Joy\n1,0.5\n", "line 1: expected prediction columns and 'label:<column>' label columns"),
    ("id,label:Joy,Joy\n1,0.5,0.5\n", "line 1: expected every prediction column before the 'label:' columns"),
    ("id,Joy,label:Joy\n", "no prediction rows after the header"),
    ("id,Joy,label:Joy\n1,0.5,0.5\n2,0.5\n", "line 3: expected 3 fields, found 2"),
    ("id,Joy,label:Joy\n1,0.5,0.5\n2,high,0.5\n", "line 3: field 'Joy': expected a finite number, found 'high'"),
    ("id,Joy,label:Joy\n1,0.5,nan\n", "line 2: field 'label:Joy': expected a finite number, found 'nan'"),
    ("id,Joy,label:Joy\n1,0.5,0.5\n1,0.4,0.5\n", "line 3: id '1' appears more than once"),
])
def test_malformed_predictions_name_the_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "val_predictions.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AbawError) as error:
        read_predictions(path)
    assert str(error.value).startswith(f"{path}: {message}")


def test_ids_keep_their_leading_zeros(kit, tmp_path: Path) -> None:
    path = _emi_predictions(kit, tmp_path, 0.1, 1, "run")
    assert read_predictions(path).labels.ids[:2] == ["08072", "08073"]
