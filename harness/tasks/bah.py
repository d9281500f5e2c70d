"""BAH — Behavioural Ambivalence/Hesitancy (ABAW 8th): the task and a reader for the release's layout.

Layout under the data root (the BAH release):

    Videos/<pid>/Visite_1/<pid>_Question_<q>_<date>_Video.mp4       the video, audio track included
    cropped-aligned-faces/<video id>/frame-<N>.jpg                     face crops, N 0-based and contiguous
    transcription/<video id without .mp4>.json                        Whisper-style chunks (format below)
    split/{train,val,test}.txt        lines `video_path,label,transcript` (label empty in an unlabelled split)
    split-frames/{train,val,test}.txt lines `<video path>/frame-N.jpg,label`
    <one>.yaml                        annotation keyed by video id: frame_annotation ([frame path, 0/1] per frame),
                                      fr_detailed_ah ([first, last] frame intervals, inclusive), global_ah, transcript

Ids. A *video id* is the video's path relative to `Videos/` ("101/Visite_1/101_Question_3_20240314_Video.mp4");
paths in split files may carry any prefix up to `Videos/` or `cropped-aligned-faces/` and are normalised to it.
Inside the harness videos go by this short id; a video-level submission spells it as the release's split files and
the organisers' sample submission do, `Videos/<video id>`, because the organisers' validator compares ids in full
(`VIDEO_SUBMISSION` below, `written_id`).
A *frame id* is `<video id>/frame-XXXXX.jpg` with the 0-based index zero-padded to 5 digits, exactly the row id of the
ABAW-8 frame-level submission; on disk the file may be `frame-7.jpg` or `frame-00007.jpg` (both are read).

Transcript file format (chosen here; the release's own files are Whisper output whose container is not documented):
JSON `{"text": "<full text>", "chunks": [{"timestamp": [start_s, end_s], "text": "..."}, ...]}`, the shape of the
Hugging Face ASR pipeline with `return_timestamps=True`.

Frame labels come from `split-frames/<split>.txt`; when that file is absent they come from the annotation YAML's
`frame_annotation`. Video labels come from the label field of `split/<split>.txt` (the release's `global_ah`).
Frame rate: the engine reads each video's rate and frame count from its container (harness.train.datasets,
`video_timings`), because windows are placed at frame / fps; `ASSUMED_FPS` (25) stands in only for a video without a
file. A run reports a video whose label-frame count differs from its container's count by more than one frame.

Split manifest, one of three (`abaw-bench splits` prints which):
- a demo root is governed by the shipped `harness/splits/bah-demo-v1.json`, and `check()` reports where the root
  disagrees with it;
- a root whose `split/*.txt` list exactly the videos of the public release's split-0 (the dataset authors' published
  video-level lists) is governed by the shipped `harness/splits/bah-public-split0-v1.json` (source "repository"),
  in the published order;
- any other root (the ABAW-8 challenge release, another split) gets a manifest derived from its `split/*.txt`
  (source "data-root"). When such a root is nearly split-0 (at most `NEAR_SPLIT0_FRACTION` of the published ids
  differ: an edited, dropped or added line), `check()` reports every difference with its file and line, because a
  root that almost reproduces the published split is far likelier damaged than a different release.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, cached_property
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
from abaw_bench.harness.errors import AbawError, unknown_name_error
from abaw_bench.harness.media import (
    MediaError,
    check_frame_numbers,
    frame_number_beyond,
    frame_number_suspect,
    video_timing,
)
from abaw_bench.harness.metrics.result import MetricResult
from abaw_bench.harness.paths import is_demo_root
from abaw_bench.harness.tasks import TASKS
from abaw_bench.harness.tasks._common import check_aligned, column, compare_lists, load_shipped_manifest, read_lines
from abaw_bench.harness.tasks.base import SPLITS, DatasetReader, Item, Manifest, Table, Task, non_blank_lines
from abaw_bench.harness.tasks.spec import PROBABILITY_TOLERANCE, Column, LabelFigure, SubmissionFormat

VIDEOS_DIR = "Videos"
FACES_DIR = "cropped-aligned-faces"
TRANSCRIPTS_DIR = "transcription"
SPLIT_DIR = "split"
SPLIT_FRAMES_DIR = "split-frames"
ASSUMED_FPS = 25.0
DEMO_MANIFEST = "bah-demo-v1.json"
PUBLIC_SPLIT0_MANIFEST = "bah-public-split0-v1.json"
NEAR_SPLIT0_FRACTION = 0.1  # a root differing from split-0 in at most this fraction of its ids is reported as damaged
LEVELS = ("frame", "video")
CLASS_NAMES = ("No A/H", "With A/H")  # label 0 and 1

_FRAME_FILE = re.compile(r"^frame-(\d+)\.jpg$")
_HEADER_FIRST_FIELDS = ("video_path", "video", "path", "frame", "frame_path")


_LEADING_DOTS_AND_SLASHES = re.compile(r"(?:\./|/)*")  # what normalise_video_path strips, in linear time


def normalise_video_path(path: str) -> str:
    """The video id: the path relative to `Videos/` (or `cropped-aligned-faces/`), with forward slashes."""
    path = path.strip().replace("\\", "/")
    for anchor in (f"{VIDEOS_DIR}/", f"{FACES_DIR}/"):
        if anchor in path:
            path = path.rsplit(anchor, 1)[1]
    return path[_LEADING_DOTS_AND_SLASHES.match(path).end():]  # one slice: a loop of slices was quadratic


def frame_id(video: str, index: int) -> str:
    return f"{video}/frame-{index:05d}.jpg"


def parse_frame_path(path: str) -> tuple[str, int]:
    """(video id, 0-based index) of `<...>/<video id>/frame-N.jpg`; ValueError when it is not such a path."""
    video, _, name = normalise_video_path(path).rpartition("/")
    match = _FRAME_FILE.match(name)
    if not video or not match:
        raise ValueError(f"expected a path ending in '<video>/frame-N.jpg', found {path!r}")
    return video, int(match.group(1))


def participant_of(video: str) -> str:
    """The participant id: the first component of the video id (`<pid>/Visite_1/...`)."""
    return video.split("/", 1)[0]


def transcript_path_of(video: str) -> str:
    return video[: -len(".mp4")] + ".json" if video.endswith(".mp4") else video + ".json"


@dataclass(frozen=True)
class SplitEntry:
    """One line of `split/<split>.txt`."""

    video: str
    label: int | None
    transcript: str
    line: int


@dataclass(frozen=True)
class FrameRow:
    video: str
    index: int
    label: int | None


def _parse_label(text: str, where: str, *, optional: bool) -> int | None:
    text = text.strip()
    if text == "" and optional:
        return None
    if text in ("0", "1"):
        return int(text)
    expected = "0 or 1 (or empty in an unlabelled split)" if optional else "0 or 1"
    raise AbawError(f"{where}: expected the label {expected}, found {text!r}")


class BahReader(DatasetReader):
    """Reads a BAH root (a release or a generated demo); parsed files are cached on the instance."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._split_entries: dict[str, list[SplitEntry]] = {}
        self._frame_rows: dict[str, list[FrameRow]] = {}
        self._frames_on_disk: dict[str, list[int]] = {}

    # -- split files --------------------------------------------------------------------------------------------
    def split_entries(self, split: str) -> list[SplitEntry]:
        """The parsed `split/<split>.txt`: one entry per video, in file order."""
        _check_split(split)
        if split not in self._split_entries:
            self._split_entries[split] = self._parse_split_file(self.root / SPLIT_DIR / f"{split}.txt")
        return self._split_entries[split]

    @staticmethod
    def _parse_split_file(path: Path) -> list[SplitEntry]:
        entries: list[SplitEntry] = []
        first_line: dict[str, int] = {}
        for number, line in enumerate(read_lines(path), start=1):
            if not line.strip():
                continue
            fields = next(csv.reader([line]))
            if number == 1 and fields[0].strip().lower() in _HEADER_FIRST_FIELDS:
                continue
            where = f"{path}:{number}"
            video = normalise_video_path(fields[0])
            if not video.endswith(".mp4"):
                raise AbawError(f"{where}: expected a video path ending in .mp4 first, found {fields[0]!r}")
            if video in first_line:
                raise AbawError(f"{where}: video {video} is listed twice (first at line {first_line[video]})")
            first_line[video] = number
            label = _parse_label(fields[1], where, optional=True) if len(fields) > 1 else None
            entries.append(SplitEntry(video, label, ",".join(fields[2:]), number))
        return entries

    def _derived_splits(self) -> dict[str, tuple[str, ...]]:
        return {split: tuple(entry.video for entry in self.split_entries(split)) for split in SPLITS}

    @cached_property
    def _shipped(self) -> tuple[Manifest, dict[str, Any]] | None:
        """The shipped manifest governing this root: the demo's for a demo root, public split-0 for a root whose split
        files list exactly its videos (any order), else None (the manifest is derived from the root)."""
        if is_demo_root(self.root):
            return load_shipped_manifest(DEMO_MANIFEST)
        public, derived = public_split0(), self._derived_splits()
        if all(set(public.splits[split]) == set(derived[split]) for split in SPLITS):
            return public, {}
        return None

    def manifest(self) -> Manifest:
        if self._shipped is not None:
            return self._shipped[0]
        return Manifest(task="bah", version="data-root", splits=self._derived_splits(), source="data-root")

    def _videos(self, split: str) -> tuple[str, ...]:
        _check_split(split)
        return self.manifest().splits[split]

    # -- media ----------------------------------------------------------------------------------------------------
    def frames_on_disk(self, video: str) -> list[int]:
        """Sorted 0-based indices of the face-crop files of `video` (empty when its folder is missing)."""
        if video not in self._frames_on_disk:
            folder = self.root / FACES_DIR / video
            indices: list[int] = []
            names: dict[int, str] = {}
            if folder.is_dir():
                for name in (entry.name for entry in folder.iterdir()):
                    match = _FRAME_FILE.match(name)
                    if match:
                        indices.append(int(match.group(1)))
                        names[indices[-1]] = name
            indices.sort()
            if indices and frame_number_suspect(indices[-1], len(indices)):  # only then is the count worth reading
                count, counted_in = self._video_frames(video)
                check_frame_numbers(folder, indices, names, count, counted_in=counted_in)
            self._frames_on_disk[video] = indices
        return self._frames_on_disk[video]

    def _video_frames(self, video: str) -> tuple[int | None, str]:
        """The frame count of `Videos/<video>` from its container header, with the file; (None, "") when the video
        is missing or unreadable (then only the global cap bounds its crops' numbers)."""
        path = self.root / VIDEOS_DIR / video
        try:
            return video_timing(path).frames, str(path)
        except MediaError:
            return None, ""

    def frame_file(self, video: str, index: int) -> Path:
        """The face crop of frame `index` on disk (unpadded name, else the zero-padded one)."""
        folder = self.root / FACES_DIR / video
        plain = folder / f"frame-{index}.jpg"
        return plain if plain.exists() else folder / f"frame-{index:05d}.jpg"

    def items(self, split: str) -> list[Item]:
        items = []
        for video in self._videos(split):
            candidates = {
                "video": self.root / VIDEOS_DIR / video,
                "audio": self.root / VIDEOS_DIR / video,  # the audio is the video file's own track
                "faces": self.root / FACES_DIR / video,
                "transcript": self.root / TRANSCRIPTS_DIR / transcript_path_of(video),
            }
            media = {kind: path for kind, path in candidates.items() if path.exists()}
            items.append(Item(id=video, split=split, media=media, group=participant_of(video)))
        return items

    # -- annotation YAML ------------------------------------------------------------------------------------------
    def annotation_file(self) -> Path | None:
        """The root's single annotation YAML, or None; AbawError when there are several to choose from."""
        found = sorted(p for p in self.root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            raise AbawError(f"{self.root}: expected one annotation YAML at the root, found {len(found)}: {names}")
        return found[0] if found else None

    @cached_property
    def annotation(self) -> dict[str, dict[str, Any]]:
        """The annotation YAML keyed by video id ({} when the root has none)."""
        path = self.annotation_file()
        if path is None:
            return {}
        import yaml  # deferred: only roots without split-frames files need it

        try:
            with open(path, encoding="utf-8") as handle:
                body = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise AbawError(f"{path}: cannot parse the annotation YAML ({error})") from error
        if not isinstance(body, dict):
            raise AbawError(f"{path}: expected a mapping from video path to annotation, found {type(body).__name__}")
        return {normalise_video_path(str(key)): value for key, value in body.items()}

    def _frame_rows_from_annotation(self, video: str) -> list[FrameRow]:
        path = self.annotation_file()
        record = self.annotation[video]
        pairs = record.get("frame_annotation") if isinstance(record, dict) else None
        if not isinstance(pairs, list):
            raise AbawError(f"{path}: video {video}: expected a 'frame_annotation' list of [frame path, 0/1]")
        rows = []
        for position, pair in enumerate(pairs):
            where = f"{path}: video {video}, frame_annotation entry {position}"
            if not isinstance(pair, list) or len(pair) != 2:
                raise AbawError(f"{where}: expected [frame path, 0/1], found {pair!r}")
            try:
                frame_video, index = parse_frame_path(str(pair[0]))
            except ValueError as error:
                raise AbawError(f"{where}: {error}") from error
            if frame_video != video:
                raise AbawError(f"{where}: the frame belongs to {frame_video}, not to {video}")
            rows.append(FrameRow(video, index, _parse_label(str(pair[1]), where, optional=False)))
        self._bound_frame_indices(rows, lambda position: f"{path}: video {video}, frame_annotation entry {position}")
        return rows

    def _bound_frame_indices(self, rows: list[FrameRow], place: Callable[[int], str]) -> None:
        """AbawError naming the place (`place(i)`: file and line of `rows[i]`, spelt only for the row in error) where
        a video's largest listed frame index lies beyond the video's frames: a frame grid is allocated up to it, so
        `frame-999999999.jpg` in a label file would take gigabytes. The container is read only for a video whose
        largest index is far beyond its count of listed frames."""
        largest: dict[str, int] = {}  # video -> position of its largest index in `rows`
        listed: dict[str, int] = {}
        for position, row in enumerate(rows):
            listed[row.video] = listed.get(row.video, 0) + 1
            if row.video not in largest or row.index > rows[largest[row.video]].index:
                largest[row.video] = position
        for video, position in largest.items():
            index = rows[position].index
            if frame_number_suspect(index, listed[video]):
                count, counted_in = self._video_frames(video)
                beyond = frame_number_beyond(index, count, counted_in=counted_in)
                if beyond is not None:
                    raise AbawError(f"{place(position)}: frame index {index} of video {video} is {beyond}; fix or "
                                    "remove that line")

    # -- frame rows -------------------------------------------------------------------------------------------------
    def frame_rows(self, split: str) -> list[FrameRow]:
        """The split's frames in reference order, with labels where the root has them.

        Source, first that exists: `split-frames/<split>.txt` (its order); the annotation YAML's frame_annotation for
        every video of the split (manifest order); else the face-crop files on disk (manifest order, unlabelled).
        """
        videos = self._videos(split)
        if split in self._frame_rows:
            return self._frame_rows[split]
        path = self.root / SPLIT_FRAMES_DIR / f"{split}.txt"
        if path.is_file():
            rows, lines = self._parse_split_frames(path, split, set(videos))
            self._bound_frame_indices(rows, lambda position: f"{path}:{lines[position]}")
        elif videos and all(video in self.annotation for video in videos):
            rows = [row for video in videos for row in self._frame_rows_from_annotation(video)]
        else:
            rows = [FrameRow(video, index, None) for video in videos for index in self.frames_on_disk(video)]
        self._frame_rows[split] = rows
        return rows

    @staticmethod
    def _parse_split_frames(path: Path, split: str, videos: set[str]) -> tuple[list[FrameRow], list[int]]:
        """The file's frame rows and the line number of each."""
        rows: list[FrameRow] = []
        lines: list[int] = []
        first_line: dict[tuple[str, int], int] = {}
        for number, line in enumerate(read_lines(path), start=1):
            if not line.strip():
                continue
            frame_path, _, label_text = line.partition(",")
            if number == 1 and frame_path.strip().lower() in _HEADER_FIRST_FIELDS:
                continue
            where = f"{path}:{number}"
            try:
                video, index = parse_frame_path(frame_path)
            except ValueError as error:
                raise AbawError(f"{where}: {error}") from error
            if video not in videos:
                raise AbawError(f"{where}: frame of video {video}, which is not in the {split} split")
            if (video, index) in first_line:
                raise AbawError(f"{where}: frame {frame_id(video, index)} is listed twice (first at line "
                                f"{first_line[video, index]})")
            first_line[video, index] = number
            rows.append(FrameRow(video, index, _parse_label(label_text, where, optional=True)))
            lines.append(number)
        return rows, lines

    # -- labels and reference rows ----------------------------------------------------------------------------------
    def labels(self, split: str, level: str | None = None) -> Table:
        level = _check_level(level)
        if level == "video":
            by_video = {entry.video: entry for entry in self.split_entries(split)}
            videos = list(self._videos(split))
            missing = [video for video in videos if video not in by_video or by_video[video].label is None]
            if missing:
                split_file = self.root / SPLIT_DIR / f"{split}.txt"
                raise AbawError(f"no video labels for the {split} split: {len(missing)} of {len(videos)} videos have "
                                f"an empty label field in {split_file} (first: {missing[0]})")
            values = np.array([[by_video[video].label] for video in videos], dtype=np.int64).reshape(-1, 1)
            return Table(videos, values, ("label",), groups=list(videos))
        rows = self.frame_rows(split)
        unlabelled = sum(row.label is None for row in rows)
        if unlabelled:
            raise AbawError(f"no frame labels for the {split} split: {unlabelled} of {len(rows)} frames are unlabelled "
                            f"(looked in {self.root / SPLIT_FRAMES_DIR / f'{split}.txt'} and the annotation YAML)")
        values = np.array([row.label for row in rows], dtype=np.int64).reshape(-1, 1)
        return Table([frame_id(row.video, row.index) for row in rows], values, ("label",),
                     groups=[row.video for row in rows])

    def reference_rows(self, split: str, level: str | None = None) -> list[str]:
        if _check_level(level) == "video":
            return list(self._videos(split))
        return [frame_id(row.video, row.index) for row in self.frame_rows(split)]

    def reference_source(self, split: str, level: str | None = None) -> str:
        videos = f"the videos listed in {self.root / SPLIT_DIR / f'{split}.txt'}"
        if _check_level(level) == "video":
            return videos
        return (f"the frames of {videos}: {self.root / SPLIT_FRAMES_DIR / f'{split}.txt'}, the annotation YAML at "
                f"the root, or the face crops under {self.root / FACES_DIR}")

    # -- consistency ------------------------------------------------------------------------------------------------
    def check(self) -> list[str]:
        manifest = self.manifest()
        derived = self._derived_splits()
        problems = self._participant_overlap(derived)
        if self._shipped is not None:
            problems += compare_lists("video", manifest.splits, derived)
            expected_frames: dict[str, int] = self._shipped[1].get("frames", {})
            for video, count in sorted(expected_frames.items()):
                found = len(self.frames_on_disk(video))
                if (self.root / FACES_DIR / video).is_dir() and found != count:
                    problems.append(f"video {video}: {found} face frames on disk, the manifest says {count}")
        else:
            problems += self._differences_from_split0(derived)
        listed = {video for videos in manifest.splits.values() for video in videos}
        for split in SPLITS:
            for video in manifest.splits[split]:
                problems += self._check_video_media(split, video)
            problems += self._check_split_frames(split)
        problems += [f"extra video {video}: under {VIDEOS_DIR}/ but in no split"
                     for video in self._videos_under(VIDEOS_DIR, files=True) - listed]
        problems += [f"extra video {video}: face frames under {FACES_DIR}/ but in no split"
                     for video in self._videos_under(FACES_DIR, files=False) - listed]
        return problems

    def _differences_from_split0(self, derived: dict[str, tuple[str, ...]]) -> list[str]:
        """Where a root that is nearly the public split-0 departs from it, each with its split file and line ([] for a
        root that is not near split-0: another release, whose manifest is rightly its own)."""
        published = public_split0()
        in_public = {video: split for split in SPLITS for video in published.splits[split]}
        in_root = {video: split for split in SPLITS for video in derived[split]}
        differing = sum(in_public.get(video) != split for video, split in in_root.items())
        differing += sum(video not in in_root for video in in_public)
        if differing > NEAR_SPLIT0_FRACTION * len(in_public):
            return []
        name = f"the public split-0 manifest ({PUBLIC_SPLIT0_MANIFEST})"
        problems = []
        for split in SPLITS:
            split_file = self.root / SPLIT_DIR / f"{split}.txt"
            for position, entry in enumerate(self.split_entries(split), start=1):
                home = in_public.get(entry.video)
                if home is None:
                    listed = published.splits[split]
                    replaced = listed[position - 1] if position <= len(listed) else None
                    hint = (f"; {name} has {replaced} at entry {position}"
                            if replaced is not None and replaced not in in_root else "")
                    problems.append(f"{split_file}:{entry.line}: video {entry.video} is not in {name}{hint}")
                elif home != split:
                    problems.append(f"{split_file}:{entry.line}: video {entry.video} is in the {home} split of "
                                    f"{name}, not {split}")
            problems += [f"{split_file}: video {video} (entry {position} of the published {split} list) is missing"
                         for position, video in enumerate(published.splits[split], start=1) if video not in in_root]
        return [f"{self.root}: nearly the public BAH split-0 but not quite; the manifest is derived from the root",
                *problems]

    @staticmethod
    def _participant_overlap(splits: dict[str, tuple[str, ...]]) -> list[str]:
        splits_of: dict[str, set[str]] = {}
        for split, videos in splits.items():
            for video in videos:
                splits_of.setdefault(participant_of(video), set()).add(split)
        return [f"participant {pid} appears in several splits: {', '.join(s for s in SPLITS if s in found)}"
                for pid, found in sorted(splits_of.items()) if len(found) > 1]

    def _check_video_media(self, split: str, video: str) -> list[str]:
        problems = []
        for folder, path in ((VIDEOS_DIR, video), (TRANSCRIPTS_DIR, transcript_path_of(video))):
            if not (self.root / folder / path).is_file():
                problems.append(f"{split}: video {video}: missing {folder}/{path}")
        if not (self.root / FACES_DIR / video).is_dir():
            return [*problems, f"{split}: video {video}: missing face folder {FACES_DIR}/{video}"]
        indices = self.frames_on_disk(video)
        if not indices:
            problems.append(f"{split}: video {video}: no frame-N.jpg files in {FACES_DIR}/{video}")
        elif indices != list(range(len(indices))):
            gaps = sorted(set(range(indices[-1] + 1)) - set(indices))
            shown = ", ".join(f"frame-{i}.jpg" for i in gaps[:5]) + (" ..." if len(gaps) > 5 else "")
            problems.append(f"{split}: video {video}: face frames are not contiguous from 0; missing {shown}")
        return problems

    def _check_split_frames(self, split: str) -> list[str]:
        """Frames listed in split-frames but absent on disk, and frames on disk that split-frames leaves out."""
        if not (self.root / SPLIT_FRAMES_DIR / f"{split}.txt").is_file():
            return []
        listed: dict[str, set[int]] = {}
        for row in self.frame_rows(split):
            listed.setdefault(row.video, set()).add(row.index)
        problems = []
        for video in self._videos(split):
            on_disk, in_list = set(self.frames_on_disk(video)), listed.get(video, set())
            if in_list - on_disk:
                problems.append(f"{split}: video {video}: {len(in_list - on_disk)} frame(s) listed in "
                                f"{SPLIT_FRAMES_DIR}/{split}.txt are missing on disk "
                                f"(first: frame-{min(in_list - on_disk)}.jpg)")
            if on_disk - in_list:
                problems.append(f"{split}: video {video}: {len(on_disk - in_list)} frame(s) on disk are not listed "
                                f"in {SPLIT_FRAMES_DIR}/{split}.txt (first: frame-{min(on_disk - in_list)}.jpg)")
        return problems

    def _videos_under(self, folder: str, *, files: bool) -> set[str]:
        """Video ids found under `folder`: `.mp4` files (Videos/) or `.mp4` folders (face crops), whose contents are
        not walked, so the hundreds of thousands of frame files of a release are never listed here."""
        base = self.root / folder
        found = set()
        for directory, subdirectories, file_names in os.walk(base):
            relative = Path(directory).relative_to(base)
            names = file_names if files else subdirectories
            found |= {(relative / name).as_posix() for name in names if name.endswith(".mp4")}
            subdirectories[:] = [name for name in subdirectories if not name.endswith(".mp4")]
        return found


@cache
def public_split0() -> Manifest:
    """The shipped manifest of the public release's split-0 (read once per process)."""
    return load_shipped_manifest(PUBLIC_SPLIT0_MANIFEST)[0]


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise unknown_name_error("split", split, SPLITS)


def _check_level(level: str | None) -> str:
    if level is None:
        return LEVELS[0]
    if level not in LEVELS:
        raise unknown_name_error("BAH level", level, LEVELS)
    return level


_VIDEOS_PREFIX, _FACES_PREFIX = f"{VIDEOS_DIR}/", f"{FACES_DIR}/"


def _submission_id(raw: str) -> str:
    """BAH paths as the dataset reader normalises them (backslashes, `./`, a `Videos/` or `cropped-aligned-faces/`
    prefix), so an absolute path into the release matches; after that, ids are compared in full. Ids that are
    already clean (nearly all of a 335k-frame file) skip the normaliser: substring tests are much cheaper."""
    needs_normalising = "\\" in raw or raw.startswith(("./", "/")) or _VIDEOS_PREFIX in raw or _FACES_PREFIX in raw
    return normalise_video_path(raw) if needs_normalising else raw


def _submission_ids_canonical(raw: list[str]) -> bool:
    """`_submission_id`'s test for many ids at once: no id has a backslash, a release prefix or a leading `./` or
    `/`."""
    if any(map(str.startswith, raw, repeat(("./", "/")))):
        return False
    joined = "\n".join(raw)
    return not ("\\" in joined or _VIDEOS_PREFIX in joined or _FACES_PREFIX in joined)


def _release_video_id(video: str) -> str:
    """A video id as the release's `split/*.txt` and the organisers' sample submission spell it: under `Videos/`."""
    return f"{_VIDEOS_PREFIX}{video}"


def _submission_format(level: str, **declared: Any) -> SubmissionFormat:
    """A BAH format: headerless, with ids normalised as the reader normalises video paths."""
    return SubmissionFormat(task="bah", level=level, header=None, normalise_id=_submission_id,
                            all_canonical=_submission_ids_canonical, **declared)


FRAME_SUBMISSION = _submission_format(
    LEVELS[0],  # frame
    title="BAH frame level (headerless <video path>/frame-XXXXX.jpg,<0|1>)",
    id_name="frame",
    layouts=((Column("pred", 0, 1, integer=True),),),
    ordered=True,
    template_values=(0,),
    notes="no header; one line per reference frame, in the reference order; prediction 0 (no A/H) or 1 (A/H)",
)

VIDEO_SUBMISSION = _submission_format(
    LEVELS[1],  # video
    title="BAH video level (headerless video-id,p0,p1,pred or video-id,pred)",
    id_name="video-id",
    layouts=(
        (Column("p0", 0.0, 1.0), Column("p1", 0.0, 1.0), Column("pred", 0, 1, integer=True)),
        (Column("pred", 0, 1, integer=True),),
    ),
    ordered=False,
    official_id=_release_video_id,
    id_rule="a video path as the release spells it (Videos/<pid>/Visite_1/<file>.mp4)",
    template_values=(1.0, 0.0, 0),
    notes=(
        "no header; one line per reference video in any order; ids as the release's split files spell them "
        "(Videos/<pid>/Visite_1/<file>.mp4), which the organisers' validator compares in full: the short form "
        "without Videos/ is accepted here with a warning. p0 + p1 = 1 within "
        f"{PROBABILITY_TOLERANCE:g} (the organisers' validator wants it exactly: a warning otherwise). A pred "
        "that disagrees with argmax(p0, p1) is a WARNING, not an error: teams legitimately tune the decision "
        "threshold on validation data, and pred is what is scored"
    ),
)

_FRAME_SUFFIXES = (".jpg\n", ".jpeg\n", ".png\n")
_NUMBERED_FRAME = re.compile(r"frame-[0-9]+\n")
EXAMPLE_POSITIVE_RATE = 0.2  # the example frame-level submission's share of 1s, about the labels' rate


class BahTask(Task):
    name = "bah"
    title = "BAH: Behavioural Ambivalence/Hesitancy (ABAW 8th), frame level; video level as in ABAW 10/11"
    columns = ("label",)
    headline_metric = "weighted_f1"
    formats = (FRAME_SUBMISSION, VIDEO_SUBMISSION)
    dataset = "bah"
    label_figure = LabelFigure("positive-rate", "BAH positive frame rate per split", axis="positive (A/H) frame rate")
    class_names = CLASS_NAMES
    unit = "frame"
    frame_base = 0
    fps = ASSUMED_FPS

    def reader(self, root: Path) -> BahReader:
        return BahReader(root)

    def parse_frame_id(self, row_id: str) -> tuple[str, int]:
        return parse_frame_path(row_id)

    def level_votes(self, lines: list[str]) -> dict[str, int]:
        """A line whose first field, without closing quotes or blanks, names an image (`.../frame-00012.jpg`: it ends
        in .jpg, .jpeg, .png or frame-N, in any case) is a frame-level row; any other non-blank line is taken for a
        video-level one. Counted on the first fields joined, with substring counts: linear, and fast enough to vote
        on every line of a 335k-line file."""
        names = "\n".join([line.partition(",")[0] for line in lines if line]).lower() + "\n"
        if '"' in names or " " in names or "\t" in names:
            names = "\n".join([name.rstrip(' \t"') for name in names.split("\n")])
        frames = sum(map(names.count, _FRAME_SUFFIXES)) + len(_NUMBERED_FRAME.findall(names))
        return {"frame": frames, "video": non_blank_lines(lines) - frames}

    def example_predictions(self, level: str, rows: list[str], rng: np.random.Generator) -> Table:
        """Frame level: 0/1 with about the labels' positive rate. Video level: p1 and pred, from which the writer
        makes p0 = 1 - p1 (whose float sum with p1 is then exactly 1)."""
        if _check_level(level) == "video":
            p1 = np.round(rng.random(len(rows)), 4)
            return Table(list(rows), np.stack([p1, (p1 > 0.5).astype(np.float64)], axis=1), ("p1", "pred"))
        values = (rng.random((len(rows), 1)) < EXAMPLE_POSITIVE_RATE).astype(np.float64)
        return Table(list(rows), values, tuple(column.name for column in FRAME_SUBMISSION.default_layout))

    def score(self, predictions: Table, labels: Table, level: str | None = None) -> MetricResult:
        """Frame level: weighted F1 (hallmen2025's), plus AP when predictions carry a positive-class probability "p1".
        Video level: macro F1 over the videos' 0/1 predictions."""
        from abaw_bench.harness.metrics import bah_frame_metric, bah_video_metric

        check_aligned(predictions, labels)
        pred = column(predictions, "label", "pred")
        if pred is None:
            raise AbawError(f"BAH predictions need a 'label' column, found columns {predictions.columns}")
        target = labels.values[:, 0]
        if _check_level(level) == "video":
            return bah_video_metric(pred, target)
        return bah_frame_metric(pred, target, scores=column(predictions, "p1", "score"))


TASKS.register("bah")(BahTask())
