"""BAH reader: the demo root, hand-made real-layout roots, participant overlap, malformed files, check()."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.tasks import get_task
from abaw_bench.harness.tasks.base import Table

FRAME_ID = re.compile(r"^\d+/Visite_1/\d+_Question_\d_\d{8}_Video\.mp4/frame-\d{5}\.jpg$")


@pytest.fixture(scope="module")
def demo(demo_root) -> Path:
    return demo_root("bah")


def hardlink_copy(source: Path, target: Path) -> Path:
    """A cheap private copy of a dataset: deleting or adding files in it leaves the source untouched."""
    shutil.copytree(source, target, copy_function=os.link)
    return target


def video_id(pid: str, question: int) -> str:
    return f"{pid}/Visite_1/{pid}_Question_{question}_20240101_Video.mp4"


def make_root(root: Path, layout: dict[str, list[tuple[str, list[int] | None]]], *, padded: bool = False,
              split_frames: bool = True, prefix: str = "/data/BAH/") -> Path:
    """A minimal release-layout root: split → [(video id, frame labels or None for unlabelled)]."""
    for split, videos in layout.items():
        split_lines, frame_lines = [], []
        for video, labels in videos:
            n = len(labels) if labels is not None else 4
            (root / "Videos" / video).parent.mkdir(parents=True, exist_ok=True)
            (root / "Videos" / video).write_bytes(b"")
            transcript = root / "transcription" / video.replace(".mp4", ".json")
            transcript.parent.mkdir(parents=True, exist_ok=True)
            transcript.write_text(json.dumps({"text": "um, well", "chunks": []}))
            faces = root / "cropped-aligned-faces" / video
            faces.mkdir(parents=True)
            for i in range(n):
                (faces / (f"frame-{i:05d}.jpg" if padded else f"frame-{i}.jpg")).write_bytes(b"")
            label = "" if labels is None else str(int(any(labels)))
            split_lines.append(f'{prefix}Videos/{video},{label},"um, I guess, maybe"')
            if labels is not None:
                faces_path = f"{prefix}cropped-aligned-faces/{video}"
                frame_lines += [f"{faces_path}/frame-{i}.jpg,{y}" for i, y in enumerate(labels)]
        (root / "split").mkdir(parents=True, exist_ok=True)
        (root / "split" / f"{split}.txt").write_text("\r\n".join(split_lines) + "\r\n")
        if split_frames and frame_lines:
            (root / "split-frames").mkdir(exist_ok=True)
            (root / "split-frames" / f"{split}.txt").write_text("\n".join(frame_lines))
    return root


LAYOUT = {
    "train": [(video_id("1", 1), [0, 1, 1, 0, 0]), (video_id("1", 2), [0, 0, 0])],
    "val": [(video_id("2", 3), [1, 1, 0, 0])],
    "test": [(video_id("3", 4), None)],
}


def test_demo_root_agrees_with_its_shipped_manifest(demo: Path) -> None:
    reader = get_task("bah").reader(demo)
    manifest = reader.manifest()
    assert manifest.source == "repository" and manifest.version == "demo-v1"
    assert {split: len(ids) for split, ids in manifest.splits.items()} == {"train": 12, "val": 6, "test": 6}
    participants = {split: {video.split("/")[0] for video in ids} for split, ids in manifest.splits.items()}
    assert not (participants["train"] & participants["val"]) and not (participants["val"] & participants["test"])
    assert reader.check() == []


def test_demo_frame_and_video_labels(demo: Path) -> None:
    reader = get_task("bah").reader(demo)
    frames = reader.labels("train", "frame")
    assert all(FRAME_ID.match(row_id) for row_id in frames.ids)
    assert len(set(frames.ids)) == len(frames.ids)
    assert [row_id.rsplit("/", 1)[0] for row_id in frames.ids] == frames.groups
    assert 0.1 < frames.values.mean() < 0.35  # ~20 % positive, as in the release
    assert frames.ids == reader.reference_rows("train", "frame")
    videos = reader.labels("val", "video")
    assert videos.ids == list(reader.manifest().splits["val"]) and set(videos.values[:, 0]) == {0, 1}
    # a video is labelled A/H exactly when some of its frames are
    val_frames = reader.labels("val", "frame")
    for video, label in zip(videos.ids, videos.values[:, 0], strict=True):
        assert label == max(v for v, g in zip(val_frames.values[:, 0], val_frames.groups, strict=True) if g == video)


def test_demo_test_split_has_rows_but_no_labels(demo: Path) -> None:
    reader = get_task("bah").reader(demo)
    with pytest.raises(AbawError, match="no frame labels for the test split"):
        reader.labels("test", "frame")
    with pytest.raises(AbawError, match="no video labels for the test split"):
        reader.labels("test", "video")
    rows = reader.reference_rows("test", "frame")
    assert len(rows) == sum(len(reader.frames_on_disk(v)) for v in reader.manifest().splits["test"])
    assert reader.reference_rows("test", "video") == list(reader.manifest().splits["test"])
    item = reader.items("test")[0]
    assert set(item.media) == {"video", "audio", "faces", "transcript"} and item.group == item.id.split("/")[0]


def test_real_layout_root_derives_its_manifest_from_split_files(tmp_path: Path) -> None:
    reader = get_task("bah").reader(make_root(tmp_path, LAYOUT, padded=True))
    manifest = reader.manifest()
    assert manifest.source == "data-root"
    assert manifest.splits["train"] == (video_id("1", 1), video_id("1", 2))  # the /data/BAH/Videos/ prefix is gone
    labels = reader.labels("train")
    assert labels.ids[1] == f"{video_id('1', 1)}/frame-00001.jpg"
    assert labels.values[:, 0].tolist() == [0, 1, 1, 0, 0, 0, 0, 0]
    assert reader.labels("train", "video").values[:, 0].tolist() == [1, 0]
    assert reader.reference_rows("test") == [f"{video_id('3', 4)}/frame-{i:05d}.jpg" for i in range(4)]
    assert reader.check() == []


def test_annotation_yaml_is_the_fallback_for_frame_labels(tmp_path: Path) -> None:
    root = make_root(tmp_path, LAYOUT, split_frames=False)
    annotation = {video: {"frame_annotation": [[f"cropped-aligned-faces/{video}/frame-{i}.jpg", y]
                                               for i, y in enumerate(labels)],
                          "fr_detailed_ah": [], "global_ah": int(any(labels)), "transcript": "um"}
                  for split in ("train", "val") for video, labels in LAYOUT[split]}
    (root / "annotation.yaml").write_text(json.dumps(annotation))  # JSON is YAML
    labels = get_task("bah").reader(root).labels("val")
    assert labels.values[:, 0].tolist() == [1, 1, 0, 0]
    assert labels.groups == [video_id("2", 3)] * 4


def test_participant_in_two_splits_is_reported(tmp_path: Path) -> None:
    layout = {**LAYOUT, "val": [(video_id("1", 7), [1, 0])]}
    problems = get_task("bah").reader(make_root(tmp_path, layout)).check()
    assert problems == ["participant 1 appears in several splits: train, val"]


@pytest.mark.parametrize(("target", "text", "message"), [
    ("split/train.txt", "Videos/1/Visite_1/a.mp4,2,x\n", r"split/train\.txt:1: expected the label 0 or 1"),
    ("split/train.txt", "Videos/1/a.mp4,1,x\nVideos/1/a.mp4,0,y\n", r"train\.txt:2: video 1/a\.mp4 is listed twice"),
    ("split/val.txt", "Videos/1/a.avi,1,x\n", r"val\.txt:1: expected a video path ending in \.mp4"),
    ("split-frames/train.txt", "cropped-aligned-faces/x/img-3.png,1\n", r"split-frames/train\.txt:1: expected a path"),
    ("split-frames/train.txt", f"{video_id('1', 1)}/frame-0.jpg,1\n{video_id('1', 1)}/frame-00000.jpg,0\n",
     r"train\.txt:2: frame .*/frame-00000\.jpg is listed twice \(first at line 1\)"),
])
def test_malformed_files_name_file_and_line(tmp_path: Path, target: str, text: str, message: str) -> None:
    root = make_root(tmp_path, LAYOUT)
    (root / target).write_text(text)
    with pytest.raises(AbawError, match=message):
        get_task("bah").reader(root).labels("train")


def test_missing_split_file_is_a_clear_error(tmp_path: Path) -> None:
    root = make_root(tmp_path, LAYOUT)
    (root / "split" / "test.txt").unlink()
    with pytest.raises(AbawError, match=r"split/test\.txt: file not found"):
        get_task("bah").reader(root).manifest()


def test_check_finds_deleted_frames_and_extra_videos(tmp_path: Path, demo: Path) -> None:
    root = make_root(tmp_path / "real", LAYOUT)
    (root / "cropped-aligned-faces" / video_id("1", 1) / "frame-2.jpg").unlink()
    (root / "Videos" / "9" / "Visite_1").mkdir(parents=True)
    (root / "Videos" / video_id("9", 1)).write_bytes(b"")
    (root / "cropped-aligned-faces" / video_id("8", 2)).mkdir(parents=True)
    problems = "\n".join(get_task("bah").reader(root).check())
    assert f"extra video {video_id('8', 2)}: face frames under cropped-aligned-faces/ but in no split" in problems
    assert "missing frame-2.jpg" in problems
    assert "split-frames/train.txt are missing on disk (first: frame-2.jpg)" in problems
    assert f"extra video {video_id('9', 1)}" in problems

    copy = hardlink_copy(demo, tmp_path / "demo")
    last_test_video = get_task("bah").reader(copy).manifest().splits["test"][-1]
    frames = sorted((copy / "cropped-aligned-faces" / last_test_video).iterdir(), key=lambda p: int(p.stem[6:]))
    frames[-1].unlink()  # the last frame: only the shipped frame counts can notice
    problems = get_task("bah").reader(copy).check()
    assert problems == [f"video {last_test_video}: {len(frames) - 1} face frames on disk, the manifest says "
                        f"{len(frames)}"]


def test_score_frame_and_video_levels(demo: Path) -> None:
    task = get_task("bah")
    reader = task.reader(demo)
    labels = reader.labels("val", "frame")
    flipped = Table(labels.ids, 1 - labels.values, ("pred",), labels.groups)
    assert task.score(labels, labels).value == 1.0
    assert task.score(flipped, labels).value == 0.0
    videos = reader.labels("val", "video")
    assert task.score(Table(videos.ids, videos.values, ("pred",)), videos, "video").metric == "macro_f1"
    shuffled = Table(labels.ids[::-1], labels.values, ("pred",))
    with pytest.raises(AbawError, match="prediction row 1 is"):
        task.score(shuffled, labels)
    with pytest.raises(AbawError, match="unknown BAH level 'clip'"):
        reader.labels("val", "clip")
    n, n0 = len(labels), int((labels.values == 0).sum())  # all-negative: only class 0 scores, F1_0 = 2·n0/(n0 + n)
    all_negative = Table(labels.ids, np.zeros_like(labels.values), ("pred",))
    assert np.isclose(task.score(all_negative, labels).value, n0 / n * 2 * n0 / (n0 + n))


# -- the public split-0 manifest ------------------------------------------------------------------------------------
def _shipped_split0() -> dict:
    from abaw_bench.harness.tasks._common import SPLITS_DIR
    from abaw_bench.harness.tasks.bah import PUBLIC_SPLIT0_MANIFEST

    return json.loads((SPLITS_DIR / PUBLIC_SPLIT0_MANIFEST).read_text(encoding="utf-8"))


def _write_published_split_files(root: Path, splits: dict[str, list[str]]) -> Path:
    """Split files shaped as the release publishes them: `Videos/<id>,label,transcript with, commas`."""
    (root / "split").mkdir(parents=True)
    for split, videos in splits.items():
        lines = [f"Videos/{video},{position % 2},Well, I usually get up, shower." for position, video in
                 enumerate(videos)]
        (root / "split" / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_shipped_split0_manifest_is_the_published_lists() -> None:
    from abaw_bench.harness.tasks._common import load_shipped_manifest
    from abaw_bench.harness.tasks.bah import PUBLIC_SPLIT0_MANIFEST

    shipped = _shipped_split0()
    manifest = load_shipped_manifest(PUBLIC_SPLIT0_MANIFEST)[0]
    assert {split: len(ids) for split, ids in manifest.splits.items()} == {"train": 616, "val": 110, "test": 392}
    assert manifest.sha256() == shipped["sha256"] and manifest.version == "public-split-0-v1"
    videos = [video for ids in manifest.splits.values() for video in ids]
    assert len(set(videos)) == len(videos) and all(video.endswith(".mp4") for video in videos)
    assert manifest.splits["val"][0] == "82579/Visite_1/82579_Question_1_2024-10-02 16-03-28_Video.mp4"  # a space
    assert "82620/Visite_1/82620_Question_7_2024-11-05_14-58-50_Video-DESKTOP-NQ55E0P.mp4" in manifest.splits["train"]


def test_root_with_the_published_split_files_is_recognised(tmp_path: Path) -> None:
    from abaw_bench.harness.cli.splits import split_report

    shipped = _shipped_split0()
    reversed_train = {**shipped["splits"], "train": shipped["splits"]["train"][::-1]}  # order does not matter
    root = _write_published_split_files(tmp_path, reversed_train)
    manifest = get_task("bah").reader(root).manifest()
    assert (manifest.version, manifest.source, manifest.sha256()) == ("public-split-0-v1", "repository",
                                                                      shipped["sha256"])
    assert manifest.splits["train"] == tuple(shipped["splits"]["train"])  # the published order governs
    report = split_report("bah", str(root))
    assert report["manifest"] == {"version": "public-split-0-v1", "source": "repository", "sha256": shipped["sha256"]}
    assert not any("split-0" in problem for problem in report["problems"])  # only the absent media are reported


def test_an_edited_split0_line_is_reported_with_its_file_and_line(tmp_path: Path) -> None:
    shipped = _shipped_split0()
    val = list(shipped["splits"]["val"])
    original, val[4] = val[4], val[4].replace("_Video.mp4", "_Video-DESKTOP-X.mp4")
    root = _write_published_split_files(tmp_path, {**shipped["splits"], "val": val})
    reader = get_task("bah").reader(root)
    assert (reader.manifest().source, reader.manifest().version) == ("data-root", "data-root")
    split_problems = [problem for problem in reader.check() if "split-0" in problem or "published" in problem]
    val_file = root / "split" / "val.txt"
    assert split_problems == [
        f"{root}: nearly the public BAH split-0 but not quite; the manifest is derived from the root",
        f"{val_file}:5: video {val[4]} is not in the public split-0 manifest (bah-public-split0-v1.json); "
        f"the public split-0 manifest (bah-public-split0-v1.json) has {original} at entry 5",
        f"{val_file}: video {original} (entry 5 of the published val list) is missing",
    ]


def test_a_different_release_is_root_derived_without_split0_complaints(tmp_path: Path) -> None:
    """A root sharing few videos with split-0 (another release, e.g. the ABAW-8 challenge's) is its own manifest."""
    shipped = _shipped_split0()
    other = {"train": shipped["splits"]["train"][:300], "val": shipped["splits"]["val"][:40],
             "test": [video_id("900", 1)]}
    reader = get_task("bah").reader(_write_published_split_files(tmp_path, other))
    assert reader.manifest().source == "data-root"
    assert not any("split-0" in problem or "published" in problem for problem in reader.check())


def test_a_video_moved_to_another_split_is_reported_at_its_line(tmp_path: Path) -> None:
    shipped = _shipped_split0()
    moved = shipped["splits"]["train"][0]
    splits = {"train": shipped["splits"]["train"][1:], "val": [*shipped["splits"]["val"], moved],
              "test": shipped["splits"]["test"]}
    reader = get_task("bah").reader(_write_published_split_files(tmp_path, splits))
    assert reader.manifest().source == "data-root"
    assert f"{tmp_path / 'split' / 'val.txt'}:111: video {moved} is in the train split of the public split-0 " \
           "manifest (bah-public-split0-v1.json), not val" in reader.check()


def test_a_huge_frame_index_in_split_frames_is_bounded_by_the_videos_frames(tmp_path: Path, demo: Path) -> None:
    """A frame grid is allocated up to the largest index: frame-999999999.jpg in a label file is refused, naming the
    line and the bound (the container's frame count), before anything is sized by it."""
    root = hardlink_copy(demo, tmp_path / "bah")
    split_frames = root / "split-frames" / "val.txt"
    lines = split_frames.read_text().splitlines()
    video = lines[0].split(",")[0].rsplit("/", 1)[0].removeprefix("cropped-aligned-faces/")
    split_frames.unlink()  # a hard link: write a new file, not through to the demo's
    split_frames.write_text("\n".join([*lines, f"cropped-aligned-faces/{video}/frame-999999999.jpg,1"]) + "\n")
    with pytest.raises(AbawError, match=rf"split-frames/val\.txt:{len(lines) + 1}: frame index 999999999 of video "
                                        rf"{re.escape(video)} is beyond the video's \d+ frames \(.*\.mp4\) \+ 25 "
                                        r"frames of slack: expected numbers below \d+; fix or remove that line"):
        get_task("bah").reader(root).labels("val")


def test_a_huge_frame_index_in_the_annotation_yaml_is_refused_at_its_entry(tmp_path: Path) -> None:
    root = make_root(tmp_path, LAYOUT, split_frames=False)
    annotation = {video: {"frame_annotation": [[f"cropped-aligned-faces/{video}/frame-{i}.jpg", y]
                                               for i, y in enumerate(labels)]}
                  for split in ("train", "val") for video, labels in LAYOUT[split]}
    annotation[video_id("2", 3)]["frame_annotation"][2][0] = f"{video_id('2', 3)}/frame-999999999.jpg"
    (root / "annotation.yaml").write_text(json.dumps(annotation))
    with pytest.raises(AbawError, match=r"annotation\.yaml: video 2/.*, frame_annotation entry 2: frame index "
                                        r"999999999 .* is beyond the cap of \d+ frames \(no frame count known\)"):
        get_task("bah").reader(root).labels("val")
