"""User-facing errors.

Anything a user can cause (a bad path, a malformed file, an unknown name) raises `AbawError`; the CLI prints its
message and exits non-zero instead of showing a traceback. Programming errors stay ordinary exceptions.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class AbawError(Exception):
    """An error whose message is meant for the user and is complete on its own."""

    exit_code = 2


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
