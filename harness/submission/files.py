"""Reading a file a user named (a submission, a reference list): checked before it is opened, then read once.

A FIFO, a terminal or another device would block a reader for ever, and a directory cannot be read at all, so the
path is `stat`ed first and only a regular file is opened. The open itself is non-blocking and re-checked with
`fstat`, so a path swapped for a FIFO between the two calls cannot block either. The file is then read in one call,
never more than the size limit allows.
"""

from __future__ import annotations

import os
import stat

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


def _kind(mode: int) -> str:
    return next((name for is_kind, name in _FILE_KINDS if is_kind(mode)), "not a regular file")


def _check_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise UnreadableFile("a regular file", _kind(mode))


def regular_file_size(path: str | os.PathLike[str]) -> int:
    """The size of a regular file, from `stat` alone (nothing is opened); UnreadableFile otherwise."""
    try:
        status = os.stat(path)
    except OSError as error:
        raise UnreadableFile("a readable file", error.strerror or type(error).__name__) from None
    except ValueError:  # e.g. a NUL character in the path
        raise UnreadableFile("a readable file", "a path the operating system cannot use") from None
    _check_regular(status.st_mode)
    return status.st_size


def read_regular_file(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The whole content of a regular file of at most `max_bytes` bytes, read once.

    UnreadableFile when the path is not a readable regular file (checked before opening); FileTooLarge, without
    reading, when it is larger than `max_bytes`.
    """
    size = regular_file_size(path)
    if size > max_bytes:
        raise FileTooLarge(size)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        raise UnreadableFile("a readable file", error.strerror or type(error).__name__) from None
    with open(descriptor, "rb") as handle:
        status = os.fstat(descriptor)
        _check_regular(status.st_mode)  # the path was replaced since the stat above
        if status.st_size > max_bytes:
            raise FileTooLarge(status.st_size)
        try:
            data = handle.read(status.st_size + 1)
        except OSError as error:
            raise UnreadableFile("a readable file", error.strerror or type(error).__name__) from None
    if len(data) > status.st_size:
        raise UnreadableFile("a file that does not change while it is read", "a file that grew while it was read")
    return data
