"""Argument helpers shared by subcommands, so every command spells the same option the same way."""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the examples in epilogs as written and shows defaults that say something (not None or False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


def add_command(subparsers: argparse._SubParsersAction, name: str, *, help: str, description: str,
                examples: str) -> argparse.ArgumentParser:
    """A subparser with the house style: description, grouped flags, an 'examples:' epilog."""
    return subparsers.add_parser(name, help=help, description=description, epilog="examples:\n" + examples,
                                 formatter_class=HelpFormatter)


def add_task_arg(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, required: bool = True) -> None:
    parser.add_argument("--task", required=required, metavar="T", help="task name: emi, bah, va or expr")


def add_data_root_arg(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--data-root", metavar="DIR", default=None,
                        help="the dataset's root folder in its official layout (default: the embedded demo dataset)")


def add_json_arg(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1 (a size limit of 0 or less would refuse every file)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, found {text[:40]!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, found {value}")
    return value


def add_max_bytes_arg(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--max-bytes", type=positive_int, default=None, metavar="N",
                        help="refuse files larger than N bytes (N >= 1), before reading them; when omitted, 1 MiB "
                             "plus every reference row at its widest legal form")
