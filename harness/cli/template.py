"""`abaw-bench template`: write a valid submission of constant predictions — what organisers hand out as a sample."""

from __future__ import annotations

import argparse

from abaw_bench.harness.cli._common import add_command, add_data_root_arg, add_level_arg, add_task_arg

EXAMPLES = """\
  abaw-bench template --task emi --out emi_sample.csv
  abaw-bench template --task bah --level video --data-root /data/BAH --split test --out bah_video_sample.txt
  abaw-bench template --task expr --data-root /data/aff-wild2 --out expr_sample.csv
"""


def constant_rows() -> str:
    """Each registered format's constant row, in words ("emi: 0 for each of the 6 columns; bah frame: pred=0; ...")."""
    from abaw_bench.harness.tasks import TASKS

    described = []
    for name, task in TASKS:
        for fmt in task.formats:
            values = fmt.template_values
            where = f"{name} {fmt.level}" if len(task.formats) > 1 else name
            if len(values) > 2 and len(set(values)) == 1:
                row = f"{values[0]:g} for each of the {len(values)} columns"
            else:
                row = ",".join(f"{column.name}={value:g}" for column, value in zip(fmt.default_layout, values,
                                                                                   strict=True))
            described.append(f"{where}: {row}")
    return "; ".join(described)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "template", help="write a valid submission with constant predictions",
        description="Write a submission in the task's official format with one row per reference row of the split "
                    f"(in the reference order) and constant predictions ({constant_rows()}).",
        examples=EXAMPLES)
    what = parser.add_argument_group("what to write")
    add_task_arg(what)
    what.add_argument("--out", required=True, metavar="FILE", help="where to write the submission")
    add_level_arg(what, when_omitted="the task's first level")
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
