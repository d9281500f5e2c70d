"""Regenerate `submissions/`: one valid example submission per task and level, for the demo datasets' test splits.

    python -m abaw_bench.harness.submission.examples [--out DIR]

The rows are the demo test split's reference rows (seed-0 demo datasets); the predictions are seeded pseudo-random
values rounded to 4 decimals, so the files are byte-for-byte reproducible and look like a real submission rather
than a constant template. A test checks that each file validates and equals a fresh regeneration.
"""

from __future__ import annotations

import argparse
import sys
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


EXAMPLES = (
    Example("emi", "default", "emi/emi_test.csv", 0),
    Example("bah", "frame", "bah/bah_frame_test.txt", 1),
    Example("bah", "video", "bah/bah_video_test.txt", 2),
    Example("va", "default", "va/va_test.csv", 3),
    Example("expr", "default", "expr/expr_test.csv", 4),
)


def example_table(example: Example, rows: list[str]) -> Table:
    """Seeded predictions in the format's first layout (BAH: about 20 % positive, like the labels; BAH video: p1 and
    pred, from which the writer makes p0 = 1 - p1)."""
    rng = np.random.default_rng(example.seed)
    layout = get_format(example.task, example.level).default_layout
    n = len(rows)
    if example.task == "bah" and example.level == "video":
        p1 = np.round(rng.random(n), 4)  # the writer adds p0 = 1 - p1, whose float sum with p1 is exactly 1
        values = np.stack([p1, (p1 > 0.5).astype(np.float64)], axis=1)
        return Table(list(rows), values, ("p1", "pred"))
    elif example.task == "bah":
        values = (rng.random((n, 1)) < 0.2).astype(np.float64)
    elif example.task == "expr":
        values = rng.integers(0, 8, size=(n, 1)).astype(np.float64)
    else:
        low, high = layout[0].low, layout[0].high
        values = np.round(low + (high - low) * rng.random((n, len(layout))), 4)
    return Table(list(rows), values, tuple(column.name for column in layout))


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
    for example in EXAMPLES:
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
