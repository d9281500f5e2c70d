"""Argument helpers shared by subcommands, so every command spells the same option the same way."""

from __future__ import annotations

import argparse
import contextlib
import re

from abaw_bench.harness.systems import Range


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the examples in epilogs as written and shows defaults that say something (not None, False or [])."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False) or action.default == []:
            return action.help
        return super()._get_help_string(action)


def add_command(subparsers: argparse._SubParsersAction, name: str, *, help: str, description: str,
                examples: str) -> argparse.ArgumentParser:
    """A subparser with the house style: description, grouped flags, an 'examples:' epilog."""
    return subparsers.add_parser(name, help=help, description=description, epilog="examples:\n" + examples,
                                 formatter_class=HelpFormatter)


def spoken_list(words: list[str], conjunction: str = "or") -> str:
    """"a", "a or b", "a, b or c"."""
    return f" {conjunction} ".join(filter(None, (", ".join(words[:-1]), words[-1]))) if words else ""


def task_names() -> str:
    """The registered tasks, for help texts ("bah, emi, expr or va"): read from the registry, never listed by hand."""
    from abaw_bench.harness.tasks import TASKS

    return spoken_list(TASKS.names())


def add_task_arg(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, required: bool = True) -> None:
    parser.add_argument("--task", required=required, metavar="T", help=f"task name: {task_names()}")


def add_level_arg(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, when_omitted: str) -> None:
    """--level, the submission level of a task that has several (the choices are those tasks' levels, from the
    registry); `when_omitted` says what the command does without it."""
    from abaw_bench.harness.tasks import TASKS

    several = [(name, task.levels) for name, task in TASKS if len(task.levels) > 1]
    choices = list(dict.fromkeys(level for _, levels in several for level in levels))
    per_task = "; ".join(f"{name}: {spoken_list(list(levels))}" for name, levels in several)
    parser.add_argument("--level", choices=choices, default=None,
                        help=f"submission level of a task with several ({per_task}); when omitted, {when_omitted}")


def add_data_root_arg(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--data-root", metavar="DIR", default=None,
                        help="the dataset's root folder in its official layout (default: the embedded demo dataset)")


def add_json_arg(parser: argparse.ArgumentParser | argparse._ArgumentGroup,
                 help: str = "print machine-readable JSON instead of a table") -> None:
    """--json, the one spelling of "machine output" on every command that has any."""
    parser.add_argument("--json", action="store_true", help=help)


def add_bootstrap_args(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, zero_turns_off: bool) -> None:
    """--resamples and --bootstrap-seed, spelt alike by `compare` and `leaderboard` (--seed is the training seed of
    `run`; the resampling seed is another thing, so it has another name)."""
    parser.add_argument("--resamples", type=bootstrap_resamples(zero_turns_off=zero_turns_off), default=1000,
                        metavar="N",
                        help="bootstrap resamples" + ("; 0: no intervals" if zero_turns_off else ""))
    parser.add_argument("--bootstrap-seed", type=Ranged(int, Range(0, MAX_SEED)), default=0, metavar="S",
                        help="seed of the resampling, so intervals are reproducible")


class Ranged:
    """An argparse type: a whole number (`kind` int) or a finite number (float) in `legal`, so that every numeric flag
    declares its range where it is defined and a value outside it is argparse's usage error naming the flag, the range
    and the value ("argument --epochs: expected a whole number in [1, 100000], found 0"), never a traceback later.
    Whole numbers are plain digits: Python's int() would take "1_0" as 10, and "1e11" is refused with the range
    rather than read as a float."""

    def __init__(self, kind: type[int] | type[float], legal: Range) -> None:
        self.kind, self.legal = kind, legal
        self.__name__ = "whole number" if kind is int else "number"  # argparse names the type in its messages

    def __call__(self, text: str) -> int | float:
        expected = f"expected {'a whole number' if self.kind is int else 'a number'} {self.legal.describe()}"
        value: int | float | None = None
        if self.kind is int and re.fullmatch(r"[+-]?[0-9]{1,30}", text.strip()):
            value = int(text)
        elif self.kind is float and "_" not in text:
            with contextlib.suppress(ValueError):
                value = float(text)
        if value is None or value not in self.legal:
            raise argparse.ArgumentTypeError(f"{expected}, found {text[:40]!r}")
        return value


MAX_SEED = 2**32 - 1  # numpy's seeds are 32-bit: the largest --seed + --seeds - 1 can reach


def bootstrap_resamples(*, zero_turns_off: bool) -> Ranged:
    """--resamples: each resample recomputes the metric over every unit, so 10^6 is already hours of work."""
    return Ranged(int, Range(0 if zero_turns_off else 1, 10**6))


def worker_count() -> Ranged:
    """--num-workers: at most 4 per usable core (more only add processes that wait, each holding its prefetched
    batches); /dev/shm bounds the number further when the loader is built (harness/features/loading.py)."""
    from abaw_bench.harness.features.loading import available_cpus

    return Ranged(int, Range(0, 4 * available_cpus()))


def add_max_bytes_arg(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--max-bytes", type=Ranged(int, Range(1, 2**50)), default=None, metavar="N",
                        help="refuse files larger than N bytes (N >= 1), before reading them; when omitted, 1 MiB "
                             "plus every reference row at its widest legal form")


# The preset `run` and `info` default to, one value so that `info` with run's flags describes what `run` would build:
# tiny, because without --data-root `run` trains on the embedded demo, which the small random encoders suit.
RUN_PRESET = "tiny"

ENCODER_LOADING_FLAGS = ("--preset", "--weights", "--download-root", "--trust-remote-code")


def add_encoder_loading_args(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, preset_default: str,
                             weights_per_encoder: bool) -> None:
    """The flags that decide how an encoder is loaded (ENCODER_LOADING_FLAGS), one definition for every command
    that loads encoders (`extract`, `run`, `weights`). `weights_per_encoder`: --weights ENC=DIR, repeatable, for
    commands that load several encoders; otherwise --weights DIR for the one encoder named by --encoder."""
    parser.add_argument("--preset", choices=("paper", "tiny"), default=preset_default,
                        help="paper: the published architectures and weights (HF cache / whisper download root, "
                             "downloaded on first use unless HF_HUB_OFFLINE=1); tiny: small random models (demo)")
    add_weights_arg(parser, per_encoder=weights_per_encoder)
    add_download_root_arg(parser)
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="allow model code shipped with a checkpoint (needed by the GTE models); off by default")


def add_weights_arg(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, per_encoder: bool) -> None:
    if per_encoder:
        parser.add_argument("--weights", action="append", default=[], metavar="ENC=DIR",
                            help="local weights for an encoder (repeatable), e.g. vit-h14=~/models/vit-huge")
    else:
        parser.add_argument("--weights", default=None, metavar="DIR", help="local checkpoint directory or file")


def add_download_root_arg(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--download-root", default=None, metavar="DIR",
                        help="where whisper .pt checkpoints are kept and downloaded (default: whisper's own, "
                             "$XDG_CACHE_HOME/whisper or ~/.cache/whisper)")


def parse_weights(pairs: list[str]) -> dict[str, str]:
    """--weights ENC=DIR pairs → {encoder: directory}."""
    from abaw_bench.harness.errors import AbawError

    weights = {}
    for pair in pairs:
        name, sep, directory = pair.partition("=")
        if not sep or not name or not directory:
            raise AbawError(f"--weights {pair!r}: expected ENCODER=DIR, e.g. vit-h14=~/models/vit-huge")
        weights[name] = directory
    return weights
