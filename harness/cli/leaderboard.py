"""`abaw-bench leaderboard`: the papers' result tables, with this repo's runs summarised beside the rows they reproduce.

A listing command: it reads table files, results.json, val_predictions.csv and train_log.jsonl files, and never
imports torch (the bootstrap and the figures are numpy and matplotlib).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from abaw_bench.harness.cli._common import add_bootstrap_args, add_command, add_json_arg, task_names

if TYPE_CHECKING:
    from abaw_bench.leaderboard.board import Board
    from abaw_bench.leaderboard.tables import PaperTable

FORMATS = ("text", "markdown", "csv", "latex", "html", "json")

EXAMPLES = """\
  abaw-bench leaderboard                                  every paper table
  abaw-bench leaderboard --task emi                       the EMI tables (hallmen2024 and hallmen2025, Table 1)
  abaw-bench leaderboard --table hallmen2024-emi --runs runs
                                                          one table, with the runs under ./runs summarised per row
  abaw-bench leaderboard --runs runs --format markdown --out LEADERBOARD.md
  abaw-bench leaderboard --runs runs --format html --figures figures --out report.html
  abaw-bench leaderboard --runs runs --json --resamples 0     JSON, no bootstrap intervals (faster)
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "leaderboard", help="the papers' result tables, with your runs, spread and Δ beside them",
        description="Print the result tables of the papers this harness reproduces, transcribed from the papers "
                    "(leaderboard/tables/*.json). Rows reproduced by a system of this repo name it as "
                    "system/variant (run one with 'abaw-bench run', several seeds with --seeds). With --runs, the "
                    "results.json files under DIR are summarised per row: mean ± sd over the seeds found (n; runs are "
                    "pooled only when their configuration, everything but the seed, is the same: others get lines "
                    "of their own naming the fields that differ, and a repeated seed counts once), a 95 % "
                    "bootstrap interval over the validation items (clips; whole videos for frame-level tasks) from "
                    "each run's val_predictions.csv, and Δ = reproduced − paper. Runs on the demo dataset or with "
                    "random-weight encoders are summarised apart, marked DEMO / RANDOM, and get no Δ: they check the "
                    "harness, they do not reproduce the paper. Malformed results.json files are reported and skipped.",
        examples=EXAMPLES)
    select = parser.add_argument_group("selection")
    select.add_argument("--table", metavar="NAME", help="show only this table (e.g. hallmen2024-emi)")
    select.add_argument("--task", metavar="T", help=f"show only the tables of this task: {task_names()}")
    select.add_argument("--runs", metavar="DIR", type=Path,
                        help="scan DIR recursively for results.json files written by 'abaw-bench run'")
    output = parser.add_argument_group("output")
    output.add_argument("--format", choices=FORMATS, default=None,
                        help="text (the default) and markdown for reading, csv and json for machines, latex for "
                             "papers, html for one self-contained page")
    add_json_arg(output, help="the same as --format json, as on every other command")
    output.add_argument("--out", metavar="FILE", type=Path,
                        help="write to FILE (atomically) instead of standard output")
    output.add_argument("--figures", metavar="DIR", type=Path,
                        help="write the PNG figures into DIR (the html format embeds them): per table paper vs "
                             "reproduced bars (95 %% CI error bars; DEMO / RANDOM runs in a panel of their own) and "
                             "a reproduced-vs-paper scatter with y = x; label distributions; per group of runs the "
                             "training curves, the validation breakdown per emotion / class, the Expr confusion "
                             "matrix and the BAH precision-recall curve with the decision threshold marked")
    output.add_argument("--data-root", action="append", metavar="TASK=DIR",
                        help="draw TASK's label distribution from DIR ('demo': the embedded demo dataset); "
                             "default: the data root the task's runs recorded (repeatable)")
    spread = parser.add_argument_group("bootstrap")
    add_bootstrap_args(spread, zero_turns_off=True)
    parser.set_defaults(handler=run)


def select_tables(tables: list[PaperTable], table_name: str | None, task: str | None) -> list[PaperTable]:
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


def parse_data_roots(pairs: list[str], tasks: set[str]) -> dict[str, str]:
    from abaw_bench.harness.errors import AbawError, unknown_name_error

    roots = {}
    for pair in pairs:
        task, sep, directory = pair.partition("=")
        if not sep or not task or not directory:
            raise AbawError(f"--data-root {pair[:80]!r}: expected TASK=DIR, e.g. emi=/data/hume-vidmimic2 or emi=demo")
        if task not in tasks:
            raise unknown_name_error("task", task, tasks)
        roots[task] = directory
    return roots


def label_roots(explicit: dict[str, str], board: Board, warn: Callable[[str], None]) -> dict[str, Path]:
    """The data root whose labels each shown task's distribution is drawn from: --data-root, else its runs' root."""
    from abaw_bench.harness.dataroot import resolve_data_root

    recorded: dict[str, str] = {}
    for runs in board.runs_by_row.values():
        for run in runs:
            if run.data_root is not None:
                recorded.setdefault(run.task, run.data_root)
    roots = {}
    for task in sorted({table.task for table in board.tables}):
        root = explicit.get(task, recorded.get(task))
        if root is None:
            continue
        if root == "demo":
            roots[task] = resolve_data_root(task, None, quiet=True)
        elif Path(root).expanduser().is_dir():
            roots[task] = Path(root).expanduser()
        else:
            warn(f"no label-distribution figure for {task}: its data root {root} is not a directory here")
    return roots


def run(args: argparse.Namespace) -> int:
    from abaw_bench.harness.atomic import stored_form, write_text
    from abaw_bench.harness.errors import AbawError
    from abaw_bench.leaderboard import render
    from abaw_bench.leaderboard.board import build_board
    from abaw_bench.leaderboard.runs import scan_runs
    from abaw_bench.leaderboard.summary import BootstrapSettings, summarise
    from abaw_bench.leaderboard.tables import load_tables

    if args.json and args.format not in (None, "json"):
        raise AbawError(f"--json and --format {args.format}: give one output format")
    output_format = "json" if args.json else args.format or "text"

    def say(message: str) -> None:
        print(f"abaw-bench leaderboard: {message}", file=sys.stderr, flush=True)

    def warn(message: str) -> None:
        say(f"warning: {message}")

    tables = load_tables()
    shown = select_tables(tables, args.table, args.task)
    explicit_roots = parse_data_roots(args.data_root or [], {table.task for table in tables})
    runs, skipped = scan_runs(args.runs) if args.runs is not None else ([], [])
    board = build_board(tables, shown, runs, skipped, args.runs)

    for problem in skipped:
        warn(f"skipped {problem.path}: {problem.problem}")
    for message in board.not_placed:
        warn(message)
    if skipped:
        say(f"{len(skipped)} malformed results.json file(s) skipped")
    if args.runs is not None and not runs and not skipped:
        say(f"no results.json under {args.runs}")

    summary = None
    if args.runs is not None:
        summary = summarise(board, BootstrapSettings(args.resamples, args.bootstrap_seed), progress=say)
        for note in summary.notes:
            warn(note)

    figures = []
    if args.figures is not None:
        from abaw_bench.leaderboard.figures import write_figures

        figures = write_figures(board, summary, label_roots(explicit_roots, board, warn), args.figures, warn)
        say(f"wrote {len(figures)} figure(s) to {args.figures}")

    if output_format == "json":
        import json

        text = json.dumps(stored_form(render.to_json(board, summary)), indent=2, ensure_ascii=False) + "\n"
    elif output_format == "html":
        from abaw_bench.leaderboard.html import render_html

        text = render_html(board, summary, figures)
    else:
        text = {"text": render.render_text, "markdown": render.render_markdown, "csv": render.render_csv,
                "latex": render.render_latex}[output_format](board, summary)

    if args.out is None:
        sys.stdout.write(text)
    else:
        write_text(args.out, text)
        say(f"wrote {args.out}")
    return 0
