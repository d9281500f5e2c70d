"""Reading a file a user named (a submission, a reference list, results.json, a transcript): checked before it is
opened, then read once and bounded in size. The one home of that check: the validator, the leaderboard and
`harness.jsonio` all read through here.

A FIFO, a terminal or another device would block a reader for ever, and a directory cannot be read at all, so the
path is `stat`ed first and only a regular file is opened. The open itself is non-blocking and re-checked with
`fstat`, so a path swapped for a FIFO between the two calls cannot block either. `read_regular_file` then reads the
file in one call, never more than the size limit allows; `open_regular` hands the checked handle to a caller that
reads it in pieces (a .jsonl file, line by line); `read_text` decodes a whole file as UTF-8, naming the byte at
fault.

Standard library and `harness.errors` only: the base layer, importable from every module (`harness.paths` too).
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from abaw_bench.harness.errors import AbawError

_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class UnreadableFile(Exception):
    """Why a path cannot be read as a regular file: what was expected and what was found, for a message."""

    def __init__(self, expected: str, found: str) -> None:
        super().__init__(f"expected {expected}, found {found}")
        self.expected = expected
        self.found = found


class FileTooLarge(Exception):
    """The file is larger than the limit; it was not read (or not read further)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"{size:,} bytes")
        self.size = size


REGULAR_FILE = "a regular file"  # UnreadableFile.expected when the path is something else (a FIFO, a directory...)


def _kind(mode: int) -> str:
    return next((name for is_kind, name in _FILE_KINDS if is_kind(mode)), "not a regular file")


def _check_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise UnreadableFile(REGULAR_FILE, _kind(mode))


def _unreadable(error: OSError) -> UnreadableFile:
    return UnreadableFile("a readable file", error.strerror or type(error).__name__)


def regular_file_size(path: str | os.PathLike[str]) -> int:
    """The size of a regular file, from `stat` alone (nothing is opened); UnreadableFile otherwise."""
    try:
        status = os.stat(path)
    except OSError as error:
        raise _unreadable(error) from None
    except ValueError:  # e.g. a NUL character in the path
        raise UnreadableFile("a readable file", "a path the operating system cannot use") from None
    _check_regular(status.st_mode)
    return status.st_size


def open_regular(path: str | os.PathLike[str], max_bytes: int | None) -> BinaryIO:
    """`path` opened for reading (non-blocking, binary) once it is known to be a regular file of at most `max_bytes`
    bytes (None: any size, for a caller that bounds what it reads itself): checked before opening and again on the
    open descriptor, in case the path was replaced in between.

    UnreadableFile when it is not a readable regular file; FileTooLarge, without reading, when it is too large.
    """
    size = regular_file_size(path)
    if max_bytes is not None and size > max_bytes:
        raise FileTooLarge(size)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        raise _unreadable(error) from None
    handle = open(descriptor, "rb")  # noqa: SIM115 (returned to the caller, who closes it)
    try:
        status = os.fstat(descriptor)
        _check_regular(status.st_mode)  # the path was replaced since the stat above
        if max_bytes is not None and status.st_size > max_bytes:
            raise FileTooLarge(status.st_size)
    except BaseException:
        handle.close()
        raise
    return handle


def read_regular_file(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The whole content of a regular file of at most `max_bytes` bytes, read once (errors as `open_regular`'s)."""
    with open_regular(path, max_bytes) as handle:
        size = os.fstat(handle.fileno()).st_size
        try:
            data = handle.read(size + 1)
        except OSError as error:
            raise _unreadable(error) from None
    if len(data) > size:
        raise UnreadableFile("a file that does not change while it is read", "a file that grew while it was read")
    return data


TEXT_MAX_BYTES = 1 << 30  # far above any run's files (a BAH validation split's predictions are ~20 MB)


class UnreadableText(AbawError):
    """`path` cannot be read as UTF-8 text; `reason` says why, for callers that report the path themselves."""

    def __init__(self, path: os.PathLike[str], reason: str) -> None:
        super().__init__(f"{os.fspath(path)}: {reason}")
        self.reason = reason


def read_text(path: os.PathLike[str], what: str, max_bytes: int = TEXT_MAX_BYTES) -> str:
    """The UTF-8 text of the regular file `path` (`what` names it in messages, e.g. "the predictions"), refused
    before reading when larger than `max_bytes`: the files a report is built from (results.json,
    val_predictions.csv, the paper tables), which sit in directories a user names."""
    try:
        data = read_regular_file(path, max_bytes)
    except UnreadableFile as error:
        raise UnreadableText(path, f"cannot read {what}: expected {error.expected}, found {error.found}") from None
    except FileTooLarge as error:
        raise UnreadableText(path, f"cannot read {what}: {error.size:,} bytes, more than the {max_bytes:,} "
                                   "read here") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UnreadableText(path, f"not UTF-8 text ({error.reason} at byte {error.start})") from None
