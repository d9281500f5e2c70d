"""User-facing errors.

Anything a user can cause (a bad path, a malformed file, an unknown name) raises `AbawError`; the CLI prints its
message and exits non-zero instead of showing a traceback. Programming errors stay ordinary exceptions.
"""

from __future__ import annotations

import codecs
import difflib
from collections.abc import Iterable

PRINTABLE = "abaw-printable"  # the codec error handler `printable` uses; stdout and the harness's text files use it


class AbawError(Exception):
    """An error whose message is meant for the user and is complete on its own."""

    exit_code = 2


def _printable_handler(error: UnicodeError) -> tuple[str, int]:
    """Encode what UTF-8 cannot: a byte of a file name that was not valid UTF-8 (decoded by Python as a lone
    surrogate U+DC80-U+DCFF, PEP 383) as `\\xNN`, the byte itself; any other lone surrogate as `\\uNNNN`."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    chunk = error.object[error.start:error.end]
    return "".join(f"\\x{ord(char) - 0xDC00:02x}" if 0xDC80 <= ord(char) <= 0xDCFF else f"\\u{ord(char):04x}"
                   for char in chunk), error.end


codecs.register_error(PRINTABLE, _printable_handler)


def printable(text: str) -> str:
    """`text` as valid Unicode, so that it can be printed and stored as UTF-8 anywhere: a file name's bytes that are
    not valid UTF-8 (os.fsdecode turns them into lone surrogates) become `\\xNN`, as `ls -b` shows them. Paths that
    reach a message, stdout, a report or a JSON file the harness writes go through this (or the `PRINTABLE` handler):
    without it, writing them raises UnicodeEncodeError after the work is done."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", PRINTABLE).decode("utf-8")
    return text


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean ...?' for the closest choices, or '' when nothing is close. A name that differs from a
    choice only in case (`--task EMI`) gets that choice alone: difflib compares case-sensitively and finds nothing."""
    choices = sorted(choices)
    same_but_case = [choice for choice in choices if choice.casefold() == name.casefold()]
    if same_but_case:
        return f" Did you mean {same_but_case[0]!r}? (names are case-sensitive)"
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"


def unknown_name_error(kind: str, name: str, choices: Iterable[str]) -> AbawError:
    """The standard 'unknown <kind>' error, with suggestions and the full list of valid names."""
    choices = sorted(choices)
    return AbawError(f"unknown {kind} {name!r}.{did_you_mean(name, choices)} Known {kind}s: {', '.join(choices)}.")
