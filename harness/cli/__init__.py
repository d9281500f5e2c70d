"""The `abaw-bench` command line.

Each subcommand lives in `harness/cli/<name>.py` and exposes `add_parser(subparsers)` and `run(args) -> int`.
Those modules import only the standard library and light harness modules at top level; anything heavy (torch,
transformers) is imported inside `run`, so `validate`, `score` and the listings never pay for it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from abaw_bench.harness import __version__
from abaw_bench.harness.errors import PRINTABLE, AbawError

# Order is the order shown in --help.
COMMANDS = (
    "tasks",
    "splits",
    "demo",
    "template",
    "validate",
    "score",
    "extract",
    "weights",
    "profile",
    "systems",
    "info",
    "run",
    "leaderboard",
    "compare",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="abaw-bench",
        description="Benchmark and submission-evaluation harness for the ABAW affective behaviour challenges.",
        epilog="Run 'abaw-bench <command> --help' for a command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"abaw-bench {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for name in COMMANDS:
        importlib.import_module(f"abaw_bench.harness.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a path whose bytes are not UTF-8 prints as \xNN, never a traceback
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors=PRINTABLE)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except AbawError as error:
        print(f"abaw-bench {args.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:  # a path the user named cannot be read or written: say which and why, no traceback
        where = f"{error.filename}: " if error.filename else ""
        print(f"abaw-bench {args.command}: error: {where}{error.strerror or error}", file=sys.stderr)
        return AbawError.exit_code
    except KeyboardInterrupt:
        print(f"abaw-bench {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
