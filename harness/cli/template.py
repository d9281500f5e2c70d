"""`abaw-bench template`: write a valid submission of constant predictions — what organisers hand out as a sample."""

from __future__ import annotations

import argparse

from abaw_bench.harness.cli._common import add_command, add_data_root_arg, add_task_arg

EXAMPLES = """\
  abaw-bench template --task emi --out emi_sample.csv
  abaw-bench template --task bah --level video --data-root /data/BAH --split test --out bah_video_sample.txt
  abaw-bench template --task expr --data-root /data/aff-wild2 --out expr_sample.csv
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "template", help="write a valid submission with constant predictions",
        description="Write a submission in the task's official format with one row per reference row of the split "
                    "(in the reference order) and constant predictions: EMI 0.0 for every emotion, BAH frame 0, "
                    "BAH video p0=1.0,p1=0.0,pred=0, VA 0.0,0.0, Expr class 0 (Neutral).",
        examples=EXAMPLES)
    what = parser.add_argument_group("what to write")
    add_task_arg(what)
    what.add_argument("--out", required=True, metavar="FILE", help="where to write the submission")
    what.add_argument("--level", choices=("frame", "video"), default=None,
                      help="BAH submission level; when omitted, frame")
    data = parser.add_argument_group("reference rows")
    add_data_root_arg(data)
    data.add_argument("--split", default="test", choices=("train", "val", "test"), help="the split to cover")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from abaw_bench.harness.submission import get_format, write_submission
    from abaw_bench.harness.submission.reference import DatasetReferences
    from abaw_bench.harness.tasks.base import Table

    fmt = get_format(args.task, args.level)
    references = DatasetReferences(args.task, args.data_root, args.split)
    rows = references.used(fmt.level)
    layout = fmt.default_layout
    values = np.tile(np.asarray(fmt.template_values, dtype=np.float64), (len(rows), 1))
    write_submission(args.task, args.out, Table(list(rows), values, tuple(c.name for c in layout)), level=fmt.level)
    demo = " (rows of the DEMO dataset, not the real release)" if references.is_demo else ""
    print(f"wrote {args.out}: {fmt.title}, {len(rows):,} rows of the {args.split} split with constant "
          f"predictions{demo}")
    return 0
