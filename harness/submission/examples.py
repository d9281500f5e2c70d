"""Regenerate `submissions/`: one valid example submission per task and level, for the demo datasets' test splits.

    python -m abaw_bench.harness.submission.examples [--out DIR]

The rows are the demo test split's reference rows (seed-0 demo datasets); the predictions are each task's seeded
pseudo-random example predictions (`Task.example_predictions`, rounded to 4 decimals), so the files are byte-for-byte
reproducible and look like a real submission rather than a constant template. A test checks that each file validates
and equals a fresh regeneration.
"""

from __future__ import annotations

import argparse
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from abaw_bench.harness.submission.formats import get_format
from abaw_bench.harness.submission.writer import render_submission
from abaw_bench.harness.tasks.base import Table

REPOSITORY_SUBMISSIONS = Path(__file__).resolve().parents[2] / "submissions"
SPLIT = "test"


@dataclass(frozen=True)
class Example:
    task: str
    level: str
    relative_path: str
    seed: int


def examples() -> tuple[Example, ...]:
    """One example per registered task and level: `<task>/<task>[_<level>]_test.csv` (`.txt` for a headerless
    format; the level is named only for a task with several), seeded by the task and level's names so that a new task
    leaves the other files as they are."""
    from abaw_bench.harness.tasks import TASKS

    found = []
    for name, task in TASKS:
        for fmt in task.formats:
            level = f"_{fmt.level}" if len(task.formats) > 1 else ""
            suffix = ".csv" if fmt.header is not None else ".txt"
            found.append(Example(name, fmt.level, f"{name}/{name}{level}_{SPLIT}{suffix}",
                                 zlib.crc32(f"{name}/{fmt.level}".encode())))
    return tuple(found)


def example_table(example: Example, rows: list[str]) -> Table:
    """The task's seeded example predictions (`Task.example_predictions`) for `rows`."""
    from abaw_bench.harness.tasks import get_task

    return get_task(example.task).example_predictions(example.level, rows, np.random.default_rng(example.seed))


def demo_reference_rows(task: str, level: str) -> list[str]:
    from abaw_bench.harness.demo import ensure_demo
    from abaw_bench.harness.submission.reference import reader_level
    from abaw_bench.harness.tasks import get_task

    return get_task(task).reader(ensure_demo(task)).reference_rows(SPLIT, reader_level(task, level))


def render_example(example: Example) -> str:
    rows = demo_reference_rows(example.task, example.level)
    return render_submission(get_format(example.task, example.level), example_table(example, rows))


def generate_examples(out: Path = REPOSITORY_SUBMISSIONS) -> list[Path]:
    from abaw_bench.harness.atomic import write_text

    written = []
    for example in examples():
        path = out / example.relative_path
        write_text(path, render_example(example))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m abaw_bench.harness.submission.examples", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPOSITORY_SUBMISSIONS, help="the submissions folder to write")
    args = parser.parse_args(argv)
    for path in generate_examples(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
