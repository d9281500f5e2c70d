"""`abaw-bench score`: validate a submission for a labelled split, then score it with the task's reference metric."""

from __future__ import annotations

import argparse
import json
import sys

from abaw_bench.harness.cli._common import (
    add_command,
    add_data_root_arg,
    add_json_arg,
    add_level_arg,
    add_max_bytes_arg,
    add_task_arg,
)
from abaw_bench.harness.cli.validate import LEVEL_WHEN_OMITTED

EXAMPLES = """\
  abaw-bench score --task emi predictions_val.csv
  abaw-bench score --task emi --data-root /data/hume-vidmimic2 --split val predictions_val.csv --json
  abaw-bench score --task bah --level video --split val video_preds.txt
"""


def split_advice(split: str) -> str:
    """What to do with a file of `split`'s ids given to `score`, which checks the val split unless told otherwise."""
    if split == "test":
        return ("`template` and `run` write the test split, whose labels the organisers hold: to score, write "
                "predictions for the val split (`abaw-bench template --split val` lists its rows)")
    return f"score it with --split {split}"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "score", help="validate and score a submission on a labelled split",
        description="Validate FILE against the split's reference rows (as 'validate' does; an invalid file is not "
                    "scored and exits 1), align it to the split's labels and score it with the task's metric. "
                    "The output records the task, split, data root, manifest sha256 and the file's sha256.",
        examples=EXAMPLES)
    what = parser.add_argument_group("what to score")
    add_task_arg(what)
    what.add_argument("file", metavar="FILE", help="the submission file")
    add_level_arg(what, when_omitted=LEVEL_WHEN_OMITTED)
    data = parser.add_argument_group("labels")
    add_data_root_arg(data)
    data.add_argument("--split", default="val", choices=("train", "val", "test"),
                      help="the labelled split to score on (test labels are held by the organisers)")
    output = parser.add_argument_group("limits and output")
    add_max_bytes_arg(output)
    add_json_arg(output)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from abaw_bench.harness.submission import validate_file
    from abaw_bench.harness.submission.reference import DatasetReferences
    from abaw_bench.harness.submission.scoring import score_report

    references = DatasetReferences(args.task, args.data_root, args.split)
    report = validate_file(args.task, args.file, references.rows, level=args.level, max_bytes=args.max_bytes)
    references.used(report.level)  # a root without rows is the root's error, not the file's
    references.add_split_problem(report, split_advice)
    provenance = {"task": args.task, "level": report.level, **references.provenance(), "file": args.file}
    if not report.ok or report.table is None:
        if args.json:
            print(json.dumps({**provenance, "ok": False, "validation": report.to_json()}, indent=2))
        else:
            print("\n".join(report.render()))
            print(f"{report.file}: not scored: fix the problems above first", file=sys.stderr)
        return 1

    result, rows_scored = score_report(report, references)
    body = {**result.to_json(), **provenance, "file_sha256": report.file_sha256, "rows_scored": rows_scored,
            "validation_warnings": [problem.to_json() for problem in report.warnings]}
    if args.json:
        print(json.dumps(body, indent=2, allow_nan=True))
        return 0
    source = "DEMO data: says nothing about the real benchmark" if references.is_demo else str(references.root)
    print(f"{args.task} {args.split} ({report.level}), {rows_scored:,} labelled rows — {source}")
    print(f"{result.metric} = {result.value:.6f}")
    width = max((len(name) for name in result.breakdown), default=0)
    absent = set(result.extra.get("absent_classes", ()))
    for name, value in result.breakdown.items():
        print(f"  {name:<{width}}  {value:.6f}" + ("  (absent from predictions and labels)" if name in absent else ""))
    for warning in [*result.warnings, *(p.render(report.file) for p in report.warnings)]:
        print(f"warning: {warning}")
    print(f"file sha256 {body['file_sha256']}  manifest sha256 {references.manifest_sha256}")
    return 0
