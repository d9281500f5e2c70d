"""Aff-Wild2 (ABAW 6th): the VA estimation and Expr recognition tasks and the one reader both use.

Layout under the data root (the organisers' Aff-Wild2 release):

    VA_Estimation_Challenge/{Train_Set,Validation_Set}/<video>.txt     header `valence,arousal`, one line per frame,
                                                                        values in [-1, 1], -5 marks an invalid frame
    EXPR_Recognition_Challenge/{Train_Set,Validation_Set}/<video>.txt  header = the 8 class names, one class index
                                                                        0–7 per line, -1 marks an invalid frame
    <challenge folder>/test_set.txt     the organisers' test list: one video name per line
    cropped_aligned/<video>/00001.jpg   face crops, 1-based 5-digit frame numbers (line k of an annotation file is
                                        frame k)
    audio/<base video>.wav              optional; not part of the release (extract it from the raw video). `_left`
                                        and `_right` videos share the track of their base name.

The organisers' test list is released under a name of their choosing (e.g. "..._test_set_release.txt"). The reader
uses `<challenge folder>/test_set.txt`; when that is absent it uses the only `*test*.txt` file in the challenge folder.
To point at a file elsewhere or with another name, copy or symlink it to `<challenge folder>/test_set.txt`.

Row ids are image locations `<video>/00001.jpg`, as in the single-file submission. Train/val rows are one per
annotation line, invalid frames (-5 / -1) included: the metrics exclude them, the tables keep them so that rows stay
aligned with frames. Test rows are every frame image of each test video in `cropped_aligned` (frame-number order).

Split manifest: for a real release it is derived from Train_Set / Validation_Set and the test list (source
"data-root"); a demo root is governed by the shipped `harness/splits/{va,expr}-demo-v1.json`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from abaw_bench.harness.errors import AbawError, printable, unknown_name_error
from abaw_bench.harness.media import check_frame_numbers
from abaw_bench.harness.metrics.result import MetricResult
from abaw_bench.harness.paths import is_demo_root
from abaw_bench.harness.tasks import TASKS
from abaw_bench.harness.tasks._common import (
    DECIMAL_NUMBER,
    check_aligned,
    column,
    compare_lists,
    load_shipped_manifest,
    read_lines,
)
from abaw_bench.harness.tasks.base import SPLITS, DatasetReader, Item, Manifest, Table, Task
from abaw_bench.harness.tasks.spec import DEFAULT_LEVEL, Column, LabelFigure, SubmissionFormat

FRAMES_DIR = "cropped_aligned"
AUDIO_DIR = "audio"
SET_DIRS = {"train": "Train_Set", "val": "Validation_Set"}
TEST_LIST = "test_set.txt"
EXPR_CLASSES = ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Other")
LEVELS = (DEFAULT_LEVEL,)  # one submission granularity, named as for EMI

_FRAME_FILE = re.compile(r"^(\d+)\.jpg$")


@dataclass(frozen=True)
class Challenge:
    """What distinguishes the VA and Expr annotation files."""

    task: str
    folder: str
    header: tuple[str, ...]
    invalid: float
    demo_manifest: str


VA = Challenge("va", "VA_Estimation_Challenge", ("valence", "arousal"), -5.0, "va-demo-v1.json")
EXPR = Challenge("expr", "EXPR_Recognition_Challenge", EXPR_CLASSES, -1.0, "expr-demo-v1.json")


def image_location(video: str, frame_number: int) -> str:
    return f"{video}/{frame_number:05d}.jpg"


def parse_image_location(location: str) -> tuple[str, int]:
    """(video, 0-based frame position) of `<video>/00001.jpg`; ValueError when it is not such a location."""
    video, _, name = location.rpartition("/")
    match = _FRAME_FILE.match(name)
    if not video or not match or int(match.group(1)) < 1:
        raise ValueError(f"expected '<video>/NNNNN.jpg' with a frame number >= 1, found {location[:80]!r}")
    return video, int(match.group(1)) - 1


def base_video(video: str) -> str:
    """The video a `_left`/`_right` annotation belongs to (the two persons share its audio track)."""
    for suffix in ("_left", "_right"):
        if video.endswith(suffix):
            return video[: -len(suffix)]
    return video


def parse_annotation(path: Path, challenge: Challenge) -> np.ndarray:
    """The annotation file as float64: (frames, 2) for VA, (frames, 1) for Expr (class indices as floats).

    AbawError names the line for a wrong header, field count, non-number, out-of-range value or a non-integer class.
    """
    lines = read_lines(path)
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise AbawError(f"{path}: empty file (expected the header {','.join(challenge.header)})")
    header = tuple(name.strip() for name in lines[0].split(","))
    if header != challenge.header:
        raise AbawError(f"{path}:1: expected the header {','.join(challenge.header)!r}, found {lines[0]!r}")
    width = 2 if challenge is VA else 1
    rows = [line.split(",") for line in lines[1:]]
    try:
        if any(len(row) != width or not all(DECIMAL_NUMBER.fullmatch(field) for field in row) for row in rows):
            raise ValueError
        values = np.array(rows, dtype=np.float64).reshape(len(rows), width)
    except ValueError:
        _raise_first_bad_line(path, rows, width)
    bad = ~np.isfinite(values)
    if challenge is VA:
        bad |= (values != challenge.invalid) & ((values < -1) | (values > 1))
        expected = "values in [-1, 1] or -5 (invalid)"
    else:
        bad |= (values != np.round(values)) | (values < -1) | (values > len(EXPR_CLASSES) - 1)
        expected = "a class index 0-7 or -1 (invalid)"
    if bad.any():
        row = int(np.argmax(bad.any(axis=1)))
        raise AbawError(f"{path}:{row + 2}: expected {expected}, found {lines[row + 1]!r}")
    return values


def _raise_first_bad_line(path: Path, rows: list[list[str]], width: int) -> None:
    for number, row in enumerate(rows, start=2):
        if len(row) != width:
            raise AbawError(f"{path}:{number}: expected {width} comma-separated value(s), found {len(row)}: "
                            f"{','.join(row)!r}")
        for field in row:
            if not DECIMAL_NUMBER.fullmatch(field):
                raise AbawError(f"{path}:{number}: expected a number, found {field.strip()!r}")
    raise AssertionError("unreachable: numpy rejected rows that parse one by one")


class AffWild2Reader(DatasetReader):
    """Reads one challenge (VA or Expr) of an Aff-Wild2 root; parsed files are cached on the instance."""

    def __init__(self, root: Path, challenge: Challenge) -> None:
        super().__init__(root)
        self.challenge = challenge
        self._annotations: dict[str, np.ndarray] = {}
        self._frames_on_disk: dict[str, list[int]] = {}

    @property
    def folder(self) -> Path:
        return self.root / self.challenge.folder

    # -- listing --------------------------------------------------------------------------------------------------
    def annotation_files(self, split: str) -> dict[str, Path]:
        """video → annotation file of a labelled split, sorted by video name ({} when the folder is missing)."""
        directory = self.folder / SET_DIRS[split]
        if not directory.is_dir():
            return {}
        files = {path.stem: path for path in sorted(directory.glob("*.txt"))}
        for video, path in files.items():
            if printable(video) != video:  # it would become a row id of the UTF-8 predictions and submission
                raise AbawError(f"{printable(str(path))}: the file name is not valid UTF-8, and a video's name is its "
                                "rows' id in the submission (UTF-8 text); rename the annotation file and its "
                                f"{FRAMES_DIR}/ folder")
        return files

    def test_list_file(self) -> Path | None:
        """`test_set.txt`, else the only `*test*.txt` in the challenge folder, else None."""
        default = self.folder / TEST_LIST
        if default.is_file():
            return default
        candidates = sorted(self.folder.glob("*test*.txt")) if self.folder.is_dir() else []
        if len(candidates) > 1:
            names = ", ".join(path.name for path in candidates)
            raise AbawError(f"{self.folder}: several test lists ({names}); copy or symlink the organisers' one to "
                            f"{default}")
        return candidates[0] if candidates else None

    def test_videos(self) -> list[str]:
        path = self.test_list_file()
        if path is None:
            return []
        videos: list[str] = []
        seen: dict[str, int] = {}
        for number, line in enumerate(read_lines(path), start=1):
            video = line.strip()
            if not video:
                continue
            if "/" in video or "," in video:
                raise AbawError(f"{path}:{number}: expected one video name per line, found {line!r}")
            if video in seen:
                raise AbawError(f"{path}:{number}: video {video} is listed twice (first at line {seen[video]})")
            seen[video] = number
            videos.append(video)
        return videos

    def _derived_splits(self) -> dict[str, tuple[str, ...]]:
        return {"train": tuple(self.annotation_files("train")), "val": tuple(self.annotation_files("val")),
                "test": tuple(self.test_videos())}

    @cached_property
    def _shipped(self) -> tuple[Manifest, dict[str, Any]] | None:
        return load_shipped_manifest(self.challenge.demo_manifest) if is_demo_root(self.root) else None

    def manifest(self) -> Manifest:
        if self._shipped is not None:
            return self._shipped[0]
        return Manifest(task=self.challenge.task, version="data-root", splits=self._derived_splits(),
                        source="data-root")

    def _videos(self, split: str) -> tuple[str, ...]:
        if split not in SPLITS:
            raise unknown_name_error("split", split, SPLITS)
        return self.manifest().splits[split]

    # -- media ----------------------------------------------------------------------------------------------------
    def frames_on_disk(self, video: str) -> list[int]:
        """Sorted 1-based frame numbers of the crops in `cropped_aligned/<video>` (empty when it is missing)."""
        if video not in self._frames_on_disk:
            folder = self.root / FRAMES_DIR / video
            numbers: list[int] = []
            names: dict[int, str] = {}
            if folder.is_dir():
                for name in (entry.name for entry in folder.iterdir()):
                    match = _FRAME_FILE.match(name)
                    if match:
                        numbers.append(int(match.group(1)))
                        names[numbers[-1]] = name
            numbers.sort()
            count, counted_in = self._annotated_frames(video)
            check_frame_numbers(folder, numbers, names, count, first=1, counted_in=counted_in)
            self._frames_on_disk[video] = numbers
        return self._frames_on_disk[video]

    def _annotated_frames(self, video: str) -> tuple[int | None, str]:
        """The video's frame count as its annotation file gives it (one line per frame), with the file; (None, "")
        for a video no labelled split annotates (a test video: nothing here counts its frames)."""
        for split, directory in SET_DIRS.items():
            path = self.folder / directory / f"{video}.txt"
            if path.is_file():
                return len(self.annotation(split, video)), str(path)
        return None, ""

    def items(self, split: str) -> list[Item]:
        items = []
        for video in self._videos(split):
            candidates = {"faces": self.root / FRAMES_DIR / video,
                          "audio": self.root / AUDIO_DIR / f"{base_video(video)}.wav"}
            media = {kind: path for kind, path in candidates.items() if path.exists()}
            items.append(Item(id=video, split=split, media=media, group=base_video(video)))
        return items

    # -- labels and reference rows --------------------------------------------------------------------------------
    def annotation(self, split: str, video: str) -> np.ndarray:
        """The parsed annotation of `video` in a labelled split (see `parse_annotation`)."""
        if video not in self._annotations:
            path = self.folder / SET_DIRS[split] / f"{video}.txt"
            if not path.is_file():
                raise AbawError(f"{path}: annotation file not found (video {video} of the {split} split)")
            self._annotations[video] = parse_annotation(path, self.challenge)
        return self._annotations[video]

    def labels(self, split: str, level: str | None = None) -> Table:
        _check_level(level)
        videos = self._videos(split)
        if split == "test":
            raise AbawError(f"Aff-Wild2 {self.challenge.task} test labels are not released; score on 'val' or "
                            "submit the test predictions to the organisers")
        ids: list[str] = []
        groups: list[str] = []
        blocks = []
        for video in videos:
            values = self.annotation(split, video)
            ids += [image_location(video, number) for number in range(1, len(values) + 1)]
            groups += [video] * len(values)
            blocks.append(values)
        width = len(self.challenge.header) if self.challenge is VA else 1
        values = np.concatenate(blocks) if blocks else np.zeros((0, width))
        columns = self.challenge.header if self.challenge is VA else ("label",)
        if self.challenge is EXPR:
            values = values.astype(np.int64)
        return Table(ids, values, columns, groups=groups)

    def reference_rows(self, split: str, level: str | None = None) -> list[str]:
        _check_level(level)
        videos = self._videos(split)
        if split == "test":
            return [image_location(video, number) for video in videos for number in self.frames_on_disk(video)]
        return [image_location(video, number) for video in videos
                for number in range(1, len(self.annotation(split, video)) + 1)]

    def reference_source(self, split: str, level: str | None = None) -> str:
        if split == "test":
            return (f"the organisers' test list {self.folder / TEST_LIST} (or the only *test*.txt in {self.folder}) "
                    f"and the face crops of its videos under {self.root / FRAMES_DIR}")
        return f"the annotation files {self.folder / SET_DIRS[split]}/*.txt"

    # -- consistency ------------------------------------------------------------------------------------------------
    def check(self) -> list[str]:
        manifest = self.manifest()
        derived = self._derived_splits()
        problems = [f"video {video}: annotated in both {SET_DIRS['train']} and {SET_DIRS['val']}"
                    for video in sorted(set(derived["train"]) & set(derived["val"]))]
        problems += [f"video {video}: in the test list and also annotated"
                     for video in sorted(set(derived["test"]) & (set(derived["train"]) | set(derived["val"])))]
        if self.test_list_file() is None:
            problems.append(f"no test list: expected {self.folder / TEST_LIST} (the organisers' test-set file)")
        for split in SPLITS:
            for video in manifest.splits[split]:
                if not self.frames_on_disk(video):
                    problems.append(f"{split}: video {video}: no NNNNN.jpg frames in {FRAMES_DIR}/{video}")
        if self._shipped is not None:
            problems += compare_lists("video", manifest.splits, derived)
            problems += self._check_demo_frames(manifest, self._shipped[1].get("frames", {}))
        return problems

    def _check_demo_frames(self, manifest: Manifest, expected: dict[str, int]) -> list[str]:
        """Demo roots are complete: every frame 1..N on disk and one annotation line per frame."""
        problems = []
        for video, count in sorted(expected.items()):
            numbers = self.frames_on_disk(video)
            if numbers and numbers != list(range(1, count + 1)):
                missing = sorted(set(range(1, count + 1)) - set(numbers))
                detail = f"missing {image_location(video, missing[0])}" if missing else "extra frame files"
                problems.append(f"video {video}: {len(numbers)} frames on disk, the manifest says {count} ({detail})")
        for split in ("train", "val"):
            for video in manifest.splits[split]:
                path = self.folder / SET_DIRS[split] / f"{video}.txt"
                if path.is_file() and video in expected and len(self.annotation(split, video)) != expected[video]:
                    problems.append(f"{path}: {len(self.annotation(split, video))} annotation lines, the manifest "
                                    f"says {expected[video]} frames")
        frames_root = self.root / FRAMES_DIR
        on_disk = {path.name for path in frames_root.iterdir() if path.is_dir()} if frames_root.is_dir() else set()
        problems += [f"extra video {video}: frames under {FRAMES_DIR}/ but not in the demo manifest"
                     for video in sorted(on_disk - set(expected))]
        return problems


def _check_level(level: str | None) -> None:
    if level is not None and level not in LEVELS:
        raise unknown_name_error("Aff-Wild2 level", level, LEVELS)


VA_SUBMISSION = SubmissionFormat(
    task="va",
    level=DEFAULT_LEVEL,
    title="Aff-Wild2 VA (image_location,valence,arousal)",
    id_name="image_location",
    header=("image_location", *VA.header),
    layouts=(tuple(Column(name, -1.0, 1.0) for name in VA.header),),
    ordered=True,
    template_values=(0.0, 0.0),
    notes="one row per test frame in the organisers' order; values finite in [-1, 1]",
)

EXPR_SUBMISSION = SubmissionFormat(
    task="expr",
    level=DEFAULT_LEVEL,
    title="Aff-Wild2 Expr (image_location + one class index 0-7 per row)",
    id_name="image_location",
    header=("image_location", *EXPR_CLASSES),
    layouts=((Column("expression", 0, len(EXPR_CLASSES) - 1, integer=True),),),
    ordered=True,
    template_values=(0,),
    notes="the official header names the 8 classes, yet each row holds ONE class index 0-7; organisers' row order",
)


class VaTask(Task):
    name = "va"
    title = "Aff-Wild2 valence-arousal estimation (ABAW 6th)"
    columns = VA.header
    headline_metric = "mean_ccc"
    formats = (VA_SUBMISSION,)
    dataset = "affwild2"
    label_figure = LabelFigure("joint-histogram", "Aff-Wild2 valence/arousal")
    invalid_label = VA.invalid
    unit = "frame"
    frame_base = 1

    def reader(self, root: Path) -> AffWild2Reader:
        return AffWild2Reader(root, VA)

    def parse_frame_id(self, row_id: str) -> tuple[str, int]:
        return parse_image_location(row_id)

    def score(self, predictions: Table, labels: Table, level: str | None = None) -> MetricResult:
        """Mean CCC of valence and arousal; frames labelled -5 are excluded per dimension by the metric."""
        from abaw_bench.harness.metrics import va_metric

        _check_level(level)
        check_aligned(predictions, labels)
        pred = _columns(predictions, VA.header)
        return va_metric(pred, labels.values, VA.header, VA.invalid)


class ExprTask(Task):
    name = "expr"
    title = "Aff-Wild2 expression recognition, 8 classes (ABAW 6th)"
    columns = ("label",)
    headline_metric = "macro_f1"
    formats = (EXPR_SUBMISSION,)
    dataset = "affwild2"
    label_figure = LabelFigure("class-shares", "Aff-Wild2 expression class frequencies", axis="share of valid frames")
    class_names = EXPR_CLASSES
    invalid_label = EXPR.invalid
    unit = "frame"
    frame_base = 1

    def reader(self, root: Path) -> AffWild2Reader:
        return AffWild2Reader(root, EXPR)

    def parse_frame_id(self, row_id: str) -> tuple[str, int]:
        return parse_image_location(row_id)

    def score(self, predictions: Table, labels: Table, level: str | None = None) -> MetricResult:
        """Macro F1 over the 8 classes; frames labelled -1 are excluded by the metric. Predictions hold class indices in
        a 'label' column (or 'expression', the submission format's name for it)."""
        from abaw_bench.harness.metrics import expr_metric

        _check_level(level)
        check_aligned(predictions, labels)
        pred = column(predictions, "label", "expression")
        if pred is None:
            raise AbawError(f"Expr predictions need a 'label' (or 'expression') column of class indices, found "
                            f"columns {', '.join(predictions.columns)}")
        return expr_metric(pred, labels.values[:, 0], EXPR_CLASSES, int(EXPR.invalid))


def _columns(table: Table, names: tuple[str, ...]) -> np.ndarray:
    missing = [name for name in names if name not in table.columns]
    if missing:
        raise AbawError(f"predictions lack the column(s) {', '.join(missing)}; found {', '.join(table.columns)}")
    return table.values[:, [table.columns.index(name) for name in names]]


TASKS.register("va")(VaTask())
TASKS.register("expr")(ExprTask())
