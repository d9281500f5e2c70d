"""`abaw-bench validate`: check a submission file against the rows it must contain, one check per concern."""

from __future__ import annotations

import argparse
import json

from abaw_bench.harness.cli._common import (
    add_command,
    add_data_root_arg,
    add_json_arg,
    add_level_arg,
    add_max_bytes_arg,
    add_task_arg,
)

EXAMPLES = """\
  abaw-bench validate --task emi predictions.csv
  abaw-bench validate --task emi --data-root /data/hume-vidmimic2 --split test predictions.csv
  abaw-bench validate --task bah --level video --reference organisers_sample.txt predictions.txt --json
  abaw-bench validate --task va --reference va_test_sample.csv va_predictions.csv --max-bytes 500000000
"""


LEVEL_WHEN_OMITTED = "the level most of the file's lines look like (the report says which, and why)"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "validate", help="check a submission file's format (no labels needed)",
        description="Check a submission file against the task's format and the rows the split requires: size, "
                    "encoding, header, column count, ids missing/extra/duplicated, row order, value type, range, "
                    "NaN/inf. Prints FILE:LINE: [check] expected …, found … per problem, then a count; exits 0 "
                    "when valid, 1 when not, 2 when the reference (data root or --reference) is unusable. CRLF line "
                    "endings and a missing final newline are fine. Hostile input is bounded: only a regular file is "
                    "opened (never a FIFO or device), a file over the size limit is not read, a number cell over 64 "
                    "characters or an id over 4,096 characters is reported, not parsed, and messages quote a short, "
                    "escaped prefix of any value.",
        examples=EXAMPLES)
    what = parser.add_argument_group("what to validate")
    add_task_arg(what)
    what.add_argument("file", metavar="FILE", help="the submission file")
    add_level_arg(what, when_omitted=LEVEL_WHEN_OMITTED)
    reference = parser.add_argument_group("reference rows (one of)")
    source = reference.add_mutually_exclusive_group()
    add_data_root_arg(source)
    source.add_argument("--reference", metavar="FILE", default=None,
                        help="an organisers' sample submission (ids from its first column, header skipped) or a "
                             "plain list of ids, one per line, instead of a dataset root")
    reference.add_argument("--split", default="test", choices=("train", "val", "test"),
                           help="the split whose rows the file must contain (with --data-root or the demo)")
    limits = parser.add_argument_group("limits and output")
    add_max_bytes_arg(limits)
    add_json_arg(limits)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from abaw_bench.harness.submission import get_format, validate_file
    from abaw_bench.harness.submission.reference import DatasetReferences, load_reference_file

    if args.reference is not None:
        rows = load_reference_file(args.reference, get_format(args.task, args.level))
        report = validate_file(args.task, args.file, rows, level=args.level, max_bytes=args.max_bytes)
        source: dict[str, str | bool] = {"reference_file": args.reference}
    else:
        references = DatasetReferences(args.task, args.data_root, args.split)
        report = validate_file(args.task, args.file, references.rows, level=args.level, max_bytes=args.max_bytes)
        references.used(report.level)  # a root without rows is the root's error, not the file's
        references.add_split_problem(report, lambda split: f"validate it with --split {split}")
        source = references.provenance()
    if args.json:
        print(json.dumps({**report.to_json(), **source}, indent=2))
    else:
        print("\n".join(report.render()))
    return 0 if report.ok else 1
