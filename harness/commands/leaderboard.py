"""`abaw-bench leaderboard`: the papers' result tables, optionally with this repo's runs beside the rows they reproduce.

A listing command: it reads the table files and results.json files only, and never imports torch.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from abaw_bench.harness.commands._common import add_command

EXAMPLES = """\
  abaw-bench leaderboard                                  every paper table
  abaw-bench leaderboard --task emi                       the EMI tables (seed 000 and seed 002)
  abaw-bench leaderboard --table hallmen2024-emi --runs runs
                                                          one table, with the runs under ./runs beside its rows
  abaw-bench leaderboard --runs runs --markdown > LEADERBOARD.md
  abaw-bench leaderboard --json
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "leaderboard", help="print the papers' result tables, with your runs beside them",
        description="Print the result tables of the papers this harness reproduces, transcribed from the papers "
                    "(leaderboard/tables/*.json). Rows reproduced by a system of this repo name it as "
                    "system/variant (run one with 'abaw-bench run'). With --runs, every results.json under DIR is "
                    "placed beside the row its system and variant reproduce; runs on the demo dataset or with "
                    "random-weight encoders are marked DEMO / RANDOM: they check the harness, they are not a "
                    "reproduction of the paper. Malformed results.json files are reported and skipped.",
        examples=EXAMPLES)
    select = parser.add_argument_group("selection")
    select.add_argument("--table", metavar="NAME", help="show only this table (e.g. hallmen2024-emi)")
    select.add_argument("--task", metavar="T", help="show only the tables of this task: emi, bah, va or expr")
    select.add_argument("--runs", metavar="DIR", type=Path,
                        help="scan DIR recursively for results.json files written by 'abaw-bench run'")
    output = parser.add_argument_group("output").add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print machine-readable JSON instead of tables")
    output.add_argument("--markdown", action="store_true", help="print GitHub-flavoured Markdown tables")
    parser.set_defaults(handler=run)


def select_tables(tables: list, table_name: str | None, task: str | None) -> list:
    """The tables chosen by --table / --task; an unknown name gets a did-you-mean error."""
    from abaw_bench.harness.errors import AbawError, unknown_name_error

    if table_name is not None and table_name not in {table.name for table in tables}:
        raise unknown_name_error("table", table_name, [table.name for table in tables])
    if task is not None and task not in {table.task for table in tables}:
        raise unknown_name_error("task", task, {table.task for table in tables})
    chosen = [table for table in tables
              if (table_name is None or table.name == table_name) and (task is None or table.task == task)]
    if not chosen:
        table_task = next(table.task for table in tables if table.name == table_name)
        raise AbawError(f"table {table_name!r} is a table of task {table_task!r}, not of task {task!r}")
    return chosen


def run(args: argparse.Namespace) -> int:
    from abaw_bench.leaderboard.board import build_board, render_markdown, render_text, to_json
    from abaw_bench.leaderboard.runs import scan_runs
    from abaw_bench.leaderboard.tables import load_tables

    tables = load_tables()
    shown = select_tables(tables, args.table, args.task)
    runs, skipped = scan_runs(args.runs) if args.runs is not None else ([], [])
    board = build_board(tables, shown, runs, skipped, args.runs)

    for problem in skipped:
        print(f"abaw-bench leaderboard: warning: skipped {problem.path}: {problem.problem}", file=sys.stderr)
    for message in board.not_placed:
        print(f"abaw-bench leaderboard: warning: {message}", file=sys.stderr)
    if skipped:
        print(f"abaw-bench leaderboard: {len(skipped)} malformed results.json file(s) skipped", file=sys.stderr)
    if args.runs is not None and not runs and not skipped:
        print(f"abaw-bench leaderboard: no results.json under {args.runs}", file=sys.stderr)

    if args.json:
        print(json.dumps(to_json(board), indent=2, ensure_ascii=False))
    elif args.markdown:
        print(render_markdown(board))
    else:
        print(render_text(board))
    return 0
