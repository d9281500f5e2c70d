"""`abaw-bench run --skip-bad`: on a copy of the Aff-Wild2 demo with one unreadable face crop in a train video and one
in a test video, `run` stops naming the file without the flag; with it the train video is left out, the test
video's rows get the training-label constant, results.json lists both, and the submission covers every test row.
The skip is never cached as good features (a rerun without the flag stops again) and --resume refuses to change it.
The clip-level split, the frame split whose text windows find a video without asr words, and the constant floor are
unit-tested on small inputs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.cli import main
from abaw_bench.harness.tasks import get_task
from abaw_bench.harness.tasks.base import Item, Table

BAD_TRAIN, BAD_TEST = "102-30-640x480", "110-30-640x480"  # a train and a test video of the Aff-Wild2 demo


def _corrupt_first_crop(root: Path, video: str) -> Path:
    crop = sorted((root / "cropped_aligned" / video).iterdir())[0]
    crop.write_bytes(b"not a JPEG")
    return crop


@pytest.fixture(scope="module")
def bad_root(tmp_path_factory: pytest.TempPathFactory, demo_root) -> tuple[Path, Path, Path]:
    """A copy of the VA demo (copy2 keeps the mtimes, so the good videos share the demo's feature cache entries) with
    one unreadable face crop in BAD_TRAIN and one in BAD_TEST."""
    root = tmp_path_factory.mktemp("bad-demo") / "affwild2"
    shutil.copytree(demo_root("va"), root)
    return root, _corrupt_first_crop(root, BAD_TRAIN), _corrupt_first_crop(root, BAD_TEST)


def _run(root: Path, out: Path, *extra: str) -> int:
    return main(["run", "--system", "baseline", "--task", "va", "--epochs", "1", "--data-root", str(root), "--out",
                 str(out), "--quiet", *extra])


def test_run_stops_on_a_corrupt_item_or_skips_it_with_skip_bad(bad_root: tuple[Path, Path, Path], tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    root, bad_train_crop, _ = bad_root
    assert _run(root, tmp_path / "plain") == 2
    err = capsys.readouterr().err
    assert str(bad_train_crop) in err and "pass --skip-bad" in err and "`run` also leaves them out" in err

    out = tmp_path / "skipping"
    assert _run(root, out, "--skip-bad") == 0
    captured = capsys.readouterr()
    assert "train: 1 of 5 videos have no features" in captured.err and BAD_TRAIN in captured.err
    assert "get the constant floor fitted on the training labels" in captured.err
    assert "skipped items     train 1, test 1" in captured.out
    run_dir = out / "baseline" / "va" / "frame-head" / "seed0"
    results = json.loads((run_dir / "results.json").read_text())
    skipped = results["skipped"]
    assert skipped["skip_bad"] is True and set(skipped["splits"]) == {"train", "test"}
    assert list(skipped["splits"]["train"]["items"]) == [BAD_TRAIN] and skipped["splits"]["train"]["count"] == 1
    assert "cannot decode the face crop" in skipped["splits"]["train"]["items"][BAD_TRAIN]
    assert list(skipped["splits"]["test"]["items"]) == [BAD_TEST]

    # The submission validates and covers every test row; the skipped video's rows hold the train means.
    submission = run_dir / "submission_test.csv"
    assert results["submission"]["valid"] is True
    assert main(["validate", "--task", "va", "--data-root", str(root), str(submission)]) == 0
    reader = get_task("va").reader(root)
    with open(submission, newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    assert [row[0] for row in rows] == reader.reference_rows("test")
    constant = skipped["splits"]["test"]["constant_output"]
    frames = [row for row in rows if row[0].startswith(BAD_TEST)]
    assert frames and all(np.allclose([float(v) for v in row[1:]], constant, atol=1e-6) for row in frames)
    # ... the means of the frames it trained on: the skipped train video's frames are not among them.
    labels = reader.labels("train")
    kept = np.array([not row_id.startswith(BAD_TRAIN) for row_id in labels.ids])
    values = np.asarray(labels.values, dtype=np.float64)
    values[values == get_task("va").invalid_label] = np.nan
    np.testing.assert_allclose(constant, np.nanmean(values[kept], axis=0), atol=1e-5)
    assert not np.allclose(constant, np.nanmean(values, axis=0), atol=1e-5)

    # Nothing was cached for the skipped items: without --skip-bad the run stops on them again; --resume keeps it.
    assert _run(root, out, "--resume", "--epochs", "2") == 2
    assert "differs in: skip_bad" in capsys.readouterr().err
    assert _run(root, out, "--overwrite") == 2
    assert str(bad_train_crop) in capsys.readouterr().err


class _Builder:
    """The InputBuilder surface clip_split reads: one feature source, and the ids its extraction skipped."""

    def __init__(self, skipped: dict[str, str]) -> None:
        self.skipped = {"train": skipped}

    def sources(self, split: str, items: list[Item]) -> tuple[dict, dict, dict]:
        return {"x": _Rows()}, {}, {"x": 2}

    def skipped_in(self, splits: tuple[str, ...]) -> dict[str, str]:
        from abaw_bench.harness.train.inputs import InputBuilder

        return InputBuilder.skipped_in(self, splits)  # type: ignore[arg-type]


class _Rows:
    dim = 2

    def get(self, item_id: str) -> np.ndarray:
        return np.ones((3, 2), dtype=np.float32)


class _Reader:
    def __init__(self, ids: list[str], values: np.ndarray, columns: tuple[str, ...]) -> None:
        self.table = Table(ids, values, columns)

    def labels(self, split: str) -> Table:
        return self.table


def test_clip_split_drops_skipped_items_with_their_labels_and_says_which() -> None:
    from abaw_bench.harness.errors import AbawError
    from abaw_bench.harness.train.datasets import clip_split

    task = get_task("emi")
    ids = [f"{index:05d}" for index in range(14)]
    values = np.arange(14 * len(task.columns), dtype=np.float64).reshape(14, -1)
    items = [Item(item_id, "train", {}) for item_id in ids]
    skipped = {item_id: f"{item_id}.mp3: truncated audio" for item_id in ids[1:13]}
    split, dims = clip_split(_Builder(skipped), _Reader(ids, values, task.columns), task, ("train",), items,
                             labelled=True, shuffle_seed=None, max_rows={"x": None})
    assert split.row_ids == [ids[0], ids[13]] and split.skipped == skipped and dims == {"x": 2}
    np.testing.assert_array_equal(split.labels.values, values[[0, 13]])
    np.testing.assert_array_equal(split.dataset.targets, values[[0, 13]].astype(np.float32))
    assert len(split.dataset) == 2
    note = split.notes[0]
    assert note.startswith("train: 12 of 14 items have no features") and "and 2 more" in note
    assert ids[1] in note and ids[12] not in note and "truncated audio" in note  # a bounded list
    with pytest.raises(AbawError, match="all 14 items were skipped"):
        clip_split(_Builder(dict.fromkeys(ids, "bad")), _Reader(ids, values, task.columns), task, ("train",), items,
                   labelled=True, shuffle_seed=None, max_rows={"x": None})


def test_constant_floor_rows_fill_the_skipped_rows_in_reference_order() -> None:
    from abaw_bench.harness.train.outputs import constant_output, prediction_table, with_constant_rows

    va, bah, expr = get_task("va"), get_task("bah"), get_task("expr")
    np.testing.assert_allclose(constant_output(va, np.array([[0.2, np.nan], [0.4, -0.5]])), [0.3, -0.5])
    binary = constant_output(bah, np.array([[1.0], [1.0], [0.0], [np.nan]]))
    assert binary.tolist() == [1.0]
    assert prediction_table(bah, ["a"], binary[None, :], threshold=0.95).values[0, 0] == 1.0  # majority at any cut
    classes = constant_output(expr, np.array([[3.0], [3.0], [1.0], [np.nan]]))
    assert classes.shape == (len(expr.class_names),) and int(np.argmax(classes)) == 3
    filled = with_constant_rows(["a", "b", "c", "d"], ["d", "b"], np.array([[4.0, 4.0], [2.0, 2.0]]),
                                np.array([9.0, 8.0]))
    np.testing.assert_array_equal(filled, [[9.0, 8.0], [2.0, 2.0], [9.0, 8.0], [4.0, 4.0]])


class _WindowBuilder:
    """The InputBuilder surface frame_split reads for one frozen centred text input whose window build finds the
    `unreadable` videos without asr words (as `build_text_windows(skip_bad=True)` reports them)."""

    def __init__(self, unreadable: set[str]) -> None:
        from types import SimpleNamespace

        self.variant = SimpleNamespace(inputs=("text",))
        self.encoders: dict = {}
        self.skipped: dict[str, dict[str, str]] = {}
        self.unreadable = unreadable
        self.built_for: list[list[str]] = []

    def modality(self, name: str) -> str:
        return "text"

    def frame_alignment(self, name: str) -> str | None:
        return None  # timed text windows, not rows spread over the frames

    def skipped_in(self, splits: tuple[str, ...]) -> dict[str, str]:
        from abaw_bench.harness.train.inputs import InputBuilder

        return InputBuilder.skipped_in(self, splits)  # type: ignore[arg-type]

    def window_source(self, name: str, items: list[Item], grids, hyper, frame_rates) -> object:
        from types import SimpleNamespace

        from abaw_bench.harness.train.inputs import InputBuilder

        self.built_for.append([item.id for item in items])
        windows = SimpleNamespace(dim=4, skipped={item.id: "no asr words" for item in items
                                                  if item.id in self.unreadable})
        return InputBuilder._note_skipped(self, items, windows)  # type: ignore[arg-type]


def test_a_video_without_asr_words_is_left_out_of_its_frame_split(demo_root) -> None:
    from abaw_bench.harness.systems import get_system
    from abaw_bench.harness.train.datasets import frame_split

    task = get_task("bah")
    reader = task.reader(demo_root("bah"))
    spec = get_system("hallmen2025")
    hyper = spec.hyper_for("bah", spec.variant("bah", "text-frozen")).replace(frame_step=24)
    items = reader.items("val")
    bad = items[1].id
    builder = _WindowBuilder({bad})
    split = frame_split(builder, reader, task, hyper, ("val",), items, labelled=True, training=False,
                        shuffle_seed=None, sources=({}, {}, {}))
    assert builder.built_for == [[item.id for item in items], [item.id for item in items if item.id != bad]]
    assert split.skipped == {bad: "no asr words"} and bad not in split.groups
    assert len(split.row_ids) == sum(1 for row in reader.labels("val").ids if task.parse_frame_id(row)[0] != bad)
    assert split.notes[0].startswith(f"val: 1 of {len(items)} videos have no features")
