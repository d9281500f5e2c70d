"""Aff-Wild2 reader (VA and Expr): the demo root, hand-made release-layout roots, malformed files, check()."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.tasks import get_task
from abaw_bench.harness.tasks.affwild2 import EXPR_CLASSES
from abaw_bench.harness.tasks.base import Table

VA_HEADER = "valence,arousal"
EXPR_HEADER = ",".join(EXPR_CLASSES)


@pytest.fixture(scope="module")
def demo(demo_root) -> Path:
    return demo_root("va")


def make_root(root: Path, *, va_test_list: str = "test_set.txt") -> Path:
    """Two annotated videos per challenge, one test video with 3 frames; frame folders for all."""
    files = {
        "VA_Estimation_Challenge/Train_Set/v1.txt": f"{VA_HEADER}\n0.5,-0.25\n-5,-5\n0.1,0.2\n",
        "VA_Estimation_Challenge/Validation_Set/v2_left.txt": f"{VA_HEADER}\r\n-1,1\r\n0,0",
        f"VA_Estimation_Challenge/{va_test_list}": "v3\n\n",
        "EXPR_Recognition_Challenge/Train_Set/v1.txt": f"{EXPR_HEADER}\n7\n-1\n0\n",
        "EXPR_Recognition_Challenge/Validation_Set/v2_right.txt": f"{EXPR_HEADER}\n4\n",
        "EXPR_Recognition_Challenge/test_set.txt": "v3\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(text.encode())
    for video, n in (("v1", 3), ("v2_left", 2), ("v2_right", 1), ("v3", 3)):
        (root / "cropped_aligned" / video).mkdir(parents=True)
        for number in range(1, n + 1):
            (root / "cropped_aligned" / video / f"{number:05d}.jpg").write_bytes(b"")
    (root / "audio").mkdir()
    (root / "audio" / "v2.wav").write_bytes(b"")
    return root


@pytest.mark.parametrize("task", ["va", "expr"])
def test_demo_root_agrees_with_its_shipped_manifest(demo: Path, task: str) -> None:
    reader = get_task(task).reader(demo)
    manifest = reader.manifest()
    assert manifest.source == "repository" and manifest.task == task
    assert reader.check() == []
    labels = reader.labels("train")
    assert labels.ids[0].endswith("/00001.jpg") and labels.ids == reader.reference_rows("train")
    invalid = -5 if task == "va" else -1
    assert (labels.values == invalid).any()  # invalid frames stay in the table; the metric drops them
    assert labels.columns == (("valence", "arousal") if task == "va" else ("label",))
    with pytest.raises(AbawError, match="test labels are not released"):
        reader.labels("test")
    test_rows = reader.reference_rows("test")
    assert len(test_rows) == sum(len(reader.frames_on_disk(v)) for v in manifest.splits["test"])


def test_demo_challenges_cover_different_videos_and_pairs_share_audio(demo: Path) -> None:
    va, expr = (get_task(name).reader(demo).manifest() for name in ("va", "expr"))
    assert set(va.splits["train"]) != set(expr.splits["train"]) and set(va.splits["val"]) != set(expr.splits["val"])
    items = {item.id: item for item in get_task("va").reader(demo).items("train")}
    left, right = (items[video] for video in items if video.endswith(("_left", "_right")))
    assert left.media["audio"] == right.media["audio"] and left.media["audio"].is_file()
    assert left.media["faces"] != right.media["faces"]


def test_release_layout_root(tmp_path: Path) -> None:
    root = make_root(tmp_path, va_test_list="Valence_Arousal_Estimation_Challenge_test_set_release.txt")
    va = get_task("va").reader(root)
    manifest = va.manifest()
    assert manifest.source == "data-root"
    assert manifest.splits == {"train": ("v1",), "val": ("v2_left",), "test": ("v3",)}
    labels = va.labels("train")
    assert labels.ids == ["v1/00001.jpg", "v1/00002.jpg", "v1/00003.jpg"] and labels.groups == ["v1"] * 3
    np.testing.assert_array_equal(labels.values, [[0.5, -0.25], [-5, -5], [0.1, 0.2]])
    assert va.labels("val").values.tolist() == [[-1.0, 1.0], [0.0, 0.0]]  # CRLF, no final newline
    assert va.reference_rows("test") == ["v3/00001.jpg", "v3/00002.jpg", "v3/00003.jpg"]
    assert va.check() == []
    assert va.items("val")[0].media["audio"] == root / "audio" / "v2.wav"
    expr = get_task("expr").reader(root)
    assert expr.labels("train").values[:, 0].tolist() == [7, -1, 0]
    assert expr.manifest().splits["val"] == ("v2_right",)


def test_two_candidate_test_lists_are_ambiguous(tmp_path: Path) -> None:
    root = make_root(tmp_path, va_test_list="a_test.txt")
    (root / "VA_Estimation_Challenge" / "b_test.txt").write_text("v3\n")
    with pytest.raises(AbawError, match=r"several test lists .*symlink"):
        get_task("va").reader(root).manifest()


@pytest.mark.parametrize(("task", "name", "text", "message"), [
    ("va", "VA_Estimation_Challenge/Train_Set/v1.txt", "arousal,valence\n0,0\n", r"v1\.txt:1: expected the header"),
    ("va", "VA_Estimation_Challenge/Train_Set/v1.txt", f"{VA_HEADER}\n0,0\n1.5,0\n", r"v1\.txt:3: expected values"),
    ("va", "VA_Estimation_Challenge/Train_Set/v1.txt", f"{VA_HEADER}\n0,0\n0,0\nx,0\n", r"v1\.txt:4: expected a num"),
    ("va", "VA_Estimation_Challenge/Train_Set/v1.txt", f"{VA_HEADER}\n0\n", r"v1\.txt:2: expected 2 comma-sep"),
    ("va", "VA_Estimation_Challenge/Train_Set/v1.txt", f"{VA_HEADER}\nnan,0\n",
     r"v1\.txt:2: expected a number, found 'nan'"),
    ("va", "VA_Estimation_Challenge/Train_Set/v1.txt", "", r"v1\.txt: empty file"),
    ("expr", "EXPR_Recognition_Challenge/Train_Set/v1.txt", f"{EXPR_HEADER}\n8\n", r"v1\.txt:2: expected a class"),
    ("expr", "EXPR_Recognition_Challenge/Train_Set/v1.txt", f"{EXPR_HEADER}\n0\n2.5\n", r"v1\.txt:3: expected a cl"),
])
def test_malformed_annotation_names_file_and_line(tmp_path: Path, task: str, name: str, text: str,
                                                  message: str) -> None:
    root = make_root(tmp_path)
    (root / name).write_text(text)
    with pytest.raises(AbawError, match=message):
        get_task(task).reader(root).labels("train")


def test_malformed_test_list(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    (root / "VA_Estimation_Challenge" / "test_set.txt").write_text("v3\nv4\nv3\n")
    with pytest.raises(AbawError, match=r"test_set\.txt:3: video v3 is listed twice \(first at line 1\)"):
        get_task("va").reader(root).manifest()


def test_check_on_release_layout(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    shutil.copy(root / "VA_Estimation_Challenge/Train_Set/v1.txt", root / "VA_Estimation_Challenge/Validation_Set")
    shutil.rmtree(root / "cropped_aligned" / "v3")
    (root / "EXPR_Recognition_Challenge" / "test_set.txt").unlink()
    assert get_task("va").reader(root).check() == [
        "video v1: annotated in both Train_Set and Validation_Set",
        "test: video v3: no NNNNN.jpg frames in cropped_aligned/v3",
    ]
    assert f"no test list: expected {root}/EXPR_Recognition_Challenge/test_set.txt" in get_task("expr").reader(
        root).check()[0]


def test_check_on_demo_copy_finds_deleted_frame_extra_and_missing_video(tmp_path: Path, demo: Path) -> None:
    root = tmp_path / "demo"
    shutil.copytree(demo, root, copy_function=os.link)
    reader = get_task("va").reader(root)
    val_video = reader.manifest().splits["val"][0]
    (root / "cropped_aligned" / val_video / "00002.jpg").unlink()
    (root / "cropped_aligned" / "999-30-640x480").mkdir()
    (root / "cropped_aligned" / "999-30-640x480" / "00001.jpg").write_bytes(b"")
    train_video = reader.manifest().splits["train"][0]
    (root / "VA_Estimation_Challenge" / "Train_Set" / f"{train_video}.txt").unlink()
    problems = "\n".join(get_task("va").reader(root).check())
    assert f"missing {val_video}/00002.jpg" in problems
    assert "extra video 999-30-640x480" in problems
    assert f"train: video {train_video} is in the manifest but missing from the data root" in problems


def test_scores(demo: Path) -> None:
    va, expr = get_task("va"), get_task("expr")
    labels = va.reader(demo).labels("val")
    assert va.score(labels, labels).value == pytest.approx(1.0)
    swapped = Table(labels.ids, labels.values[:, ::-1], ("valence", "arousal"))
    assert va.score(swapped, labels).value < 0.9
    expr_labels = expr.reader(demo).labels("val")
    pred = Table(expr_labels.ids, np.where(expr_labels.values < 0, 0, expr_labels.values), ("expression",))
    # The challenge divides the sum of the eight per-class F1 by 8: a class the labels lack scores 0, so a perfect
    # prediction scores (classes present in the valid frames) / 8.
    present = np.unique(pred.values[expr_labels.values[:, 0] >= 0]).size
    assert present < 8
    assert expr.score(pred, expr_labels).value == pytest.approx(present / 8)
    with pytest.raises(AbawError, match="lack the column"):
        va.score(Table(labels.ids, labels.values, ("v", "a")), labels)
