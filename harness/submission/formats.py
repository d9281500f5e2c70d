"""Declarative specs of the ABAW submission formats; the reader, writer and validator are driven by these alone.

A format is: an optional header line, the accepted layouts of value columns after the row id (BAH video level has
two), whether the row order is fixed by the reference list, and how ids are normalised before comparison. Choices the
official texts leave open are documented on the spec they concern.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import repeat

from abaw_bench.harness.errors import AbawError, did_you_mean, unknown_name_error
from abaw_bench.harness.tasks.affwild2 import EXPR_CLASSES
from abaw_bench.harness.tasks.affwild2 import LEVELS as AFFWILD2_LEVELS
from abaw_bench.harness.tasks.bah import FACES_DIR, VIDEOS_DIR, normalise_video_path
from abaw_bench.harness.tasks.bah import LEVELS as BAH_LEVELS
from abaw_bench.harness.tasks.base import Task
from abaw_bench.harness.tasks.emi import EMOTIONS as EMI_EMOTIONS

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
    # given many ids, True when none of them needs normalise_id (a 335k-row file's fast path)
    all_canonical: Callable[[list[str]], bool] | None = None
    id_pattern: re.Pattern[str] | None = None  # ids that do not match get an id-format problem
    id_rule: str = "a non-empty id"
    # maps a canonical id to the spelling the organisers' validator compares in full (None: the canonical id is it)
    official_id: Callable[[str], str] | None = None
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

    def written_id(self, canonical: str) -> str:
        """The id as a file must spell it for the organisers' own validator (what the writer writes)."""
        return self.official_id(canonical) if self.official_id is not None else canonical

    def canonical_ids(self, raw: list[str]) -> list[str]:
        """`canonical_id` of each id."""
        if self.normalise_id is None or (self.all_canonical is not None and self.all_canonical(raw)):
            return raw
        return list(map(self.normalise_id, raw))


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


def _bah_ids_canonical(raw: list[str]) -> bool:
    """`_bah_id`'s test for many ids at once: no id has a backslash, a release prefix or a leading `./` or `/`."""
    if any(map(str.startswith, raw, repeat(("./", "/")))):
        return False
    joined = "\n".join(raw)
    return not ("\\" in joined or _VIDEOS_PREFIX in joined or _FACES_PREFIX in joined)


_EMI = SubmissionFormat(
    task="emi",
    level=Task.levels[0],  # EMI keeps the base task's single level
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
    level=BAH_LEVELS[0],  # frame
    title="BAH frame level (headerless <video path>/frame-XXXXX.jpg,<0|1>)",
    id_name="frame",
    header=None,
    layouts=((Column("pred", 0, 1, integer=True),),),
    ordered=True,
    normalise_id=_bah_id,
    all_canonical=_bah_ids_canonical,
    template_values=(0,),
    notes="no header; one line per reference frame, in the reference order; prediction 0 (no A/H) or 1 (A/H)",
)

def _bah_release_video_id(video: str) -> str:
    """A video id as the release's `split/*.txt` and the organisers' sample submission spell it: under `Videos/`."""
    return f"{_VIDEOS_PREFIX}{video}"


_BAH_VIDEO = SubmissionFormat(
    task="bah",
    level=BAH_LEVELS[1],  # video
    title="BAH video level (headerless video-id,p0,p1,pred or video-id,pred)",
    id_name="video-id",
    header=None,
    layouts=(
        (Column("p0", 0.0, 1.0), Column("p1", 0.0, 1.0), Column("pred", 0, 1, integer=True)),
        (Column("pred", 0, 1, integer=True),),
    ),
    ordered=False,
    normalise_id=_bah_id,
    all_canonical=_bah_ids_canonical,
    official_id=_bah_release_video_id,
    id_rule="a video path as the release spells it (Videos/<pid>/Visite_1/<file>.mp4)",
    template_values=(1.0, 0.0, 0),
    notes=(
        "no header; one line per reference video in any order; ids as the release's split files spell them "
        "(Videos/<pid>/Visite_1/<file>.mp4), which the organisers' validator compares in full: the short form "
        "without Videos/ is accepted here with a warning. p0 + p1 = 1 within "
        f"{BAH_PROBABILITY_TOLERANCE:g} (the organisers' validator wants it exactly: a warning otherwise). A pred "
        "that disagrees with argmax(p0, p1) is a WARNING, not an error: teams legitimately tune the decision "
        "threshold on validation data, and pred is what is scored"
    ),
)

_VA = SubmissionFormat(
    task="va",
    level=AFFWILD2_LEVELS[0],
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
    level=AFFWILD2_LEVELS[0],
    title="Aff-Wild2 Expr (image_location + one class index 0-7 per row)",
    id_name="image_location",
    header=("image_location", *EXPR_CLASSES),
    layouts=((Column("expression", 0, len(EXPR_CLASSES) - 1, integer=True),),),
    ordered=True,
    template_values=(0,),
    notes="the official header names the 8 classes, yet each row holds ONE class index 0-7; organisers' row order",
)

FORMATS: dict[str, dict[str, SubmissionFormat]] = {}
for _format in (_EMI, _BAH_FRAME, _BAH_VIDEO, _VA, _EXPR):  # task → level → format; a task's first level is its default
    FORMATS.setdefault(_format.task, {})[_format.level] = _format


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


_FRAME_SUFFIXES = (".jpg\n", ".jpeg\n", ".png\n")
_NUMBERED_FRAME = re.compile(r"frame-[0-9]+\n")


def level_votes(task: str, lines: list[str]) -> dict[str, int]:
    """How many of `lines` are non-blank, by the level each looks like.

    BAH: a line whose first field, without closing quotes or blanks, names an image (`.../frame-00012.jpg`: it ends
    in .jpg, .jpeg, .png or frame-N, in any case) is a frame-level row; any other non-blank line is taken for a
    video-level one. Counted on the first fields joined, with substring counts: linear, and fast enough to vote on
    every line of a 335k-line file.
    """
    levels = levels_of(task)
    non_blank = len(lines) - lines.count("") - sum(map(str.isspace, lines))
    if len(levels) == 1:
        return {levels[0]: non_blank}
    names = "\n".join([line.partition(",")[0] for line in lines if line]).lower() + "\n"
    if '"' in names or " " in names or "\t" in names:
        names = "\n".join([name.rstrip(' \t"') for name in names.split("\n")])
    frames = sum(map(names.count, _FRAME_SUFFIXES)) + len(_NUMBERED_FRAME.findall(names))
    return {"frame": frames, "video": non_blank - frames}


def detect_level(task: str, votes: dict[str, int]) -> tuple[str, str]:
    """(level, why) from what each non-blank line of a file suggests (`level_votes`): the majority, so that a broken
    first line or a stray header does not decide; a file without lines gives the task's first level."""
    levels = levels_of(task)
    total = sum(votes.values())
    if total == 0:
        return levels[0], f"no line to detect it from: {levels[0]}, the task's default"
    best = max(levels, key=lambda level: votes.get(level, 0))  # the first of equals: a tie goes to the earlier level
    return best, f"detected: {votes.get(best, 0):,} of {total:,} non-blank lines look like {best}-level rows"
