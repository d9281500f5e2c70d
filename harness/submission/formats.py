"""The submission formats by task and level: each task declares its own (`Task.formats`, specs of
`harness.tasks.spec.SubmissionFormat`); the generic reader, writer and validator look them up here, and detect the
level of a file whose level is not given.
"""

from __future__ import annotations

from abaw_bench.harness.errors import AbawError, did_you_mean
from abaw_bench.harness.tasks import get_task
from abaw_bench.harness.tasks.spec import SubmissionFormat


def formats_of(task: str) -> dict[str, SubmissionFormat]:
    """The task's formats by level, its default (first) level first; AbawError with suggestions for an unknown task."""
    return {fmt.level: fmt for fmt in get_task(task).formats}


def levels_of(task: str) -> tuple[str, ...]:
    return get_task(task).levels


def get_format(task: str, level: str | None = None) -> SubmissionFormat:
    """The format of `task` at `level`; None means the task's default (first) level (BAH: frame)."""
    levels = formats_of(task)
    if level is None:
        return next(iter(levels.values()))
    if level not in levels:
        raise AbawError(f"task {task!r} has no submission level {level!r}.{did_you_mean(level, levels)} "
                        f"Levels of {task}: {', '.join(levels)}.")
    return levels[level]


def level_votes(task: str, lines: list[str]) -> dict[str, int]:
    """How many of `lines` are non-blank, by the level each looks like (`Task.level_votes`: a BAH line naming an
    image is a frame-level row)."""
    return get_task(task).level_votes(lines)


def detect_level(task: str, votes: dict[str, int]) -> tuple[str, str]:
    """(level, why) from what each non-blank line of a file suggests (`level_votes`): the majority, so that a broken
    first line or a stray header does not decide; a file without lines gives the task's first level."""
    levels = levels_of(task)
    total = sum(votes.values())
    if total == 0:
        return levels[0], f"no line to detect it from: {levels[0]}, the task's default"
    best = max(levels, key=lambda level: votes.get(level, 0))  # the first of equals: a tie goes to the earlier level
    return best, f"detected: {votes.get(best, 0):,} of {total:,} non-blank lines look like {best}-level rows"
