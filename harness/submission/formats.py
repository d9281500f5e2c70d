"""Declarative specs of the ABAW submission formats; the reader, writer and validator are driven by these alone.

A format is: an optional header line, the accepted layouts of value columns after the row id (BAH video level has
two), whether the row order is fixed by the reference list, and how ids are normalised before comparison. Facts are
from REFERENCE.md §1; choices the official texts leave open are documented on the spec they concern.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from abaw_bench.harness.errors import AbawError, did_you_mean, unknown_name_error
from abaw_bench.harness.tasks.bah import FACES_DIR, VIDEOS_DIR, normalise_video_path

EMI_EMOTIONS = ("Admiration", "Amusement", "Determination", "Empathic Pain", "Excitement", "Joy")
EXPR_CLASSES = ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Other")
BAH_PROBABILITY_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Column:
    """One value column: `integer` columns hold whole numbers (class indices, 0/1 predictions)."""

    name: str
    low: float
    high: float
    integer: bool = False

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a number"
        return f"{kind} in [{self.low:g}, {self.high:g}]"


@dataclass(frozen=True)
class SubmissionFormat:
    """Everything the generic reader/writer/validator needs to know about one submission format."""

    task: str
    level: str
    title: str
    id_name: str  # what the id column is called in messages (and in the header, where there is one)
    header: tuple[str, ...] | None  # the exact header fields; None for headerless formats
    layouts: tuple[tuple[Column, ...], ...]  # accepted value columns after the id; the first is the one written
    ordered: bool  # rows must follow the reference order
    normalise_id: Callable[[str], str] | None = None  # maps an accepted spelling to the canonical id
    id_pattern: re.Pattern[str] | None = None  # ids that do not match get an id-format problem
    id_rule: str = "a non-empty id"
    template_values: tuple[float, ...] = ()  # the constant row `template` writes (for the first layout)
    notes: str = ""

    @property
    def default_layout(self) -> tuple[Column, ...]:
        return self.layouts[0]

    def layout_for_width(self, n_values: int) -> tuple[Column, ...] | None:
        return next((layout for layout in self.layouts if len(layout) == n_values), None)

    def describe_layouts(self) -> str:
        return " or ".join(",".join((self.id_name, *(c.name for c in layout))) for layout in self.layouts)

    def canonical_id(self, raw: str) -> str:
        return self.normalise_id(raw) if self.normalise_id is not None else raw


def _emi_id(raw: str) -> str:
    """EMI ids are 5-digit zero-padded; a team that wrote them as integers lost the zeros, so both spellings count."""
    return raw.zfill(5) if raw.isdigit() and raw.isascii() else raw


_VIDEOS_PREFIX, _FACES_PREFIX = f"{VIDEOS_DIR}/", f"{FACES_DIR}/"


def _bah_id(raw: str) -> str:
    """BAH paths as the dataset reader normalises them (backslashes, `./`, a `Videos/` or `cropped-aligned-faces/`
    prefix), so an absolute path into the release matches; after that, ids are compared in full. Ids that are
    already clean (nearly all of a 335k-frame file) skip the normaliser: substring tests are much cheaper."""
    needs_normalising = "\\" in raw or raw.startswith(("./", "/")) or _VIDEOS_PREFIX in raw or _FACES_PREFIX in raw
    return normalise_video_path(raw) if needs_normalising else raw


_EMI = SubmissionFormat(
    task="emi",
    level="default",
    title="EMI CSV (Filename + 6 emotion intensities)",
    id_name="Filename",
    header=("Filename", *EMI_EMOTIONS),
    layouts=(tuple(Column(name, 0.0, 1.0) for name in EMI_EMOTIONS),),
    ordered=False,
    normalise_id=_emi_id,
    id_pattern=re.compile(r"[0-9]{1,5}"),
    id_rule="a clip id of up to 5 digits (leading zeros optional)",
    template_values=(0.0,) * len(EMI_EMOTIONS),
    notes="one row per test clip in any order; ids with or without leading zeros; values finite in [0, 1]",
)

_BAH_FRAME = SubmissionFormat(
    task="bah",
    level="frame",
    title="BAH frame level (headerless <video path>/frame-XXXXX.jpg,<0|1>)",
    id_name="frame",
    header=None,
    layouts=((Column("pred", 0, 1, integer=True),),),
    ordered=True,
    normalise_id=_bah_id,
    template_values=(0,),
    notes="no header; one line per reference frame, in the reference order; prediction 0 (no A/H) or 1 (A/H)",
)

_BAH_VIDEO = SubmissionFormat(
    task="bah",
    level="video",
    title="BAH video level (headerless video-id,p0,p1,pred or video-id,pred)",
    id_name="video-id",
    header=None,
    layouts=(
        (Column("p0", 0.0, 1.0), Column("p1", 0.0, 1.0), Column("pred", 0, 1, integer=True)),
        (Column("pred", 0, 1, integer=True),),
    ),
    ordered=False,
    normalise_id=_bah_id,
    template_values=(1.0, 0.0, 0),
    notes=(
        "no header; one line per reference video in any order, ids compared in full; p0 + p1 = 1 within "
        f"{BAH_PROBABILITY_TOLERANCE:g}. A pred that disagrees with argmax(p0, p1) is a WARNING, not an error: "
        "teams legitimately tune the decision threshold on validation data, and pred is what is scored"
    ),
)

_VA = SubmissionFormat(
    task="va",
    level="default",
    title="Aff-Wild2 VA (image_location,valence,arousal)",
    id_name="image_location",
    header=("image_location", "valence", "arousal"),
    layouts=((Column("valence", -1.0, 1.0), Column("arousal", -1.0, 1.0)),),
    ordered=True,
    template_values=(0.0, 0.0),
    notes="one row per test frame in the organisers' order; values finite in [-1, 1]",
)

_EXPR = SubmissionFormat(
    task="expr",
    level="default",
    title="Aff-Wild2 Expr (image_location + one class index 0-7 per row)",
    id_name="image_location",
    header=("image_location", *EXPR_CLASSES),
    layouts=((Column("expression", 0, len(EXPR_CLASSES) - 1, integer=True),),),
    ordered=True,
    template_values=(0,),
    notes="the official header names the 8 classes, yet each row holds ONE class index 0-7; organisers' row order",
)

FORMATS: dict[str, dict[str, SubmissionFormat]] = {
    "emi": {"default": _EMI},
    "bah": {"frame": _BAH_FRAME, "video": _BAH_VIDEO},
    "va": {"default": _VA},
    "expr": {"default": _EXPR},
}


def levels_of(task: str) -> tuple[str, ...]:
    if task not in FORMATS:
        raise unknown_name_error("task", task, FORMATS)
    return tuple(FORMATS[task])


def get_format(task: str, level: str | None = None) -> SubmissionFormat:
    """The format of `task` at `level`; None means the task's default (first) level (BAH: frame)."""
    levels = FORMATS.get(task)
    if levels is None:
        raise unknown_name_error("task", task, FORMATS)
    if level is None:
        return next(iter(levels.values()))
    if level not in levels:
        raise AbawError(f"task {task!r} has no submission level {level!r}.{did_you_mean(level, levels)} "
                        f"Levels of {task}: {', '.join(levels)}.")
    return levels[level]


def detect_level(task: str, first_line: str) -> str:
    """Pick the level of a multi-level task from a file's first line; single-level tasks (and a blank first line)
    give the task's first level.

    BAH: a frame-level row names an image (`.../frame-00012.jpg`); a video-level row names a video.
    """
    levels = levels_of(task)
    if len(levels) == 1 or not first_line.strip():
        return levels[0]
    first_field = first_line.split(",", 1)[0].strip().strip('"').lower()
    return "frame" if re.search(r"(frame-\d+|\.(jpe?g|png))$", first_field) else "video"
