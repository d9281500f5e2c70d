"""Atomic file writes: results, checkpoints, caches and submissions are never left half-written.

Every writer goes through `atomic_path`: it yields a temporary path and, when the block finishes without error, puts
its content at the destination. What "puts" means depends on what the destination is (`output_target`):

- a regular file, or nothing yet: the temporary file is created in the destination's directory (same file system,
  so `os.replace` is atomic) and renamed over it;
- a symlink: the same, onto the file the link points to, so the link stays a link;
- a character device or a FIFO (`--out /dev/stdout`, `/dev/null`, a named pipe), or a process's descriptor reached
  through /dev/fd or /proc (`/dev/stdout` redirected to a file): written directly, never replaced; a
  rename would put a regular file where the device or the pipe was (run as root, `--out /dev/null` destroyed
  /dev/null);
- anything else (a directory, a socket, a block device): an error naming the path.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abaw_bench.harness.errors import PRINTABLE, AbawError, printable

# The kernel's per-process descriptor links: a path that leads through one names an open descriptor (a pipe, a
# terminal, the file a shell redirected stdout to), not a file that a rename could replace.
_DESCRIPTOR_LINKS = ("/proc/", "/dev/fd/", "/dev/stdin", "/dev/stdout", "/dev/stderr")
_OWN_DESCRIPTOR = re.compile(r"/(?:proc/(?:self|(?P<pid>\d+))/fd|dev/fd)/(?P<fd>\d+)")
_MAX_LINK_HOPS = 40  # the kernel's own limit


def _descriptor_link(path: Path) -> tuple[bool, int | None]:
    """Whether `path` or a link on the way to its target lies among `_DESCRIPTOR_LINKS`, and the descriptor number
    when the link is one of this process's own (/dev/stdout is /proc/self/fd/1)."""
    current = os.path.abspath(path)
    through = False
    for _ in range(_MAX_LINK_HOPS):
        through = through or current.startswith(_DESCRIPTOR_LINKS)
        own = _OWN_DESCRIPTOR.fullmatch(current)
        if own and own["pid"] in (None, str(os.getpid())):
            return True, int(own["fd"])
        if not os.path.islink(current):
            break
        current = os.path.normpath(os.path.join(os.path.dirname(current), os.readlink(current)))
    return through, None


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@dataclass(frozen=True)
class OutputTarget:
    """Where a write lands: `path` (symlinks followed) and whether it is renamed into place or written directly."""

    path: Path
    direct: bool
    descriptor: int | None = None  # written through this process's own descriptor (shares its offset)


def output_target(destination: str | os.PathLike[str]) -> OutputTarget:
    """Classify `destination` as described in the module docstring; AbawError for a target no file can replace."""
    given = Path(destination)
    try:
        real = Path(os.path.realpath(given, strict=False))
        info = os.stat(given)  # follows links, /proc's descriptor links too
    except FileNotFoundError:  # nothing there yet, or a link to nothing: the file is created where the link points
        return OutputTarget(real, direct=False)
    except (OSError, RuntimeError) as error:  # a symlink loop, a component that is not a directory, no permission
        raise AbawError(f"{given}: cannot write there ({error})") from error
    kind = info.st_mode
    through, descriptor = _descriptor_link(given)
    if stat.S_ISCHR(kind) or stat.S_ISFIFO(kind) or (stat.S_ISREG(kind) and through):
        return OutputTarget(given, direct=True, descriptor=descriptor)
    if stat.S_ISREG(kind):
        return OutputTarget(real, direct=False)
    what = "a directory" if stat.S_ISDIR(kind) else "a socket" if stat.S_ISSOCK(kind) else \
        "a block device" if stat.S_ISBLK(kind) else "not a regular file"
    raise AbawError(f"{given}: is {what}; give the path of a file to write (a regular file, a symlink to one, a "
                    "character device such as /dev/stdout, or a FIFO)")


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path; on success put its content at `destination` (see `output_target`)."""
    target = output_target(destination)
    if target.direct:
        with _direct(target) as tmp:
            yield tmp
        return
    destination = target.path
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp creates 0600; give the file the mode open() would
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, destination)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _direct(target: OutputTarget) -> Iterator[Path]:
    """Stage the content in the temp directory, then copy it into the device or pipe in one go (nothing reaches a
    reader when the block fails). One of this process's own descriptors (/dev/stdout) is written through a duplicate
    of it, which shares its offset, so that the command's own prints before and after land in order even when the
    shell redirected it to a file; anything else is opened without O_CREAT (never makes a file)."""
    fd, tmp_name = tempfile.mkstemp(prefix="abaw-bench-out.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        sys.stdout.flush()  # what the command printed so far comes first when the device is its own stdout
        try:
            out = os.dup(target.descriptor) if target.descriptor is not None else os.open(target.path, os.O_WRONLY)
        except OSError as error:
            raise AbawError(f"{target.path}: cannot open it for writing ({error.strerror})") from error
        with open(out, "wb") as sink, open(tmp, "rb") as source:
            shutil.copyfileobj(source, sink)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(destination: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(destination) as tmp:
        tmp.write_bytes(data)


def write_text(destination: str | os.PathLike[str], text: str) -> None:
    # newline="" keeps the caller's line endings byte-exact on every platform; a path's bytes that are not UTF-8 are
    # written as \xNN (`errors.printable`) instead of failing after the work is done.
    with atomic_path(destination) as tmp, open(tmp, "w", encoding="utf-8", errors=PRINTABLE, newline="") as handle:
        handle.write(text)


def stored_form(obj: Any) -> Any:
    """`obj` as `write_json` stores it: every string (and key) `printable`, so that a path with bytes that are not
    UTF-8 is stored as valid Unicode (`\\xNN`) that any JSON reader accepts, not as a lone-surrogate escape. Compare
    a stored file against `stored_form` of the value it was written from."""
    if isinstance(obj, str):
        return printable(obj)
    if isinstance(obj, dict):
        return {stored_form(key): stored_form(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [stored_form(value) for value in obj]
    return obj


def write_json(destination: str | os.PathLike[str], obj: Any) -> None:
    write_text(destination, json.dumps(stored_form(obj), indent=2, sort_keys=True, allow_nan=False) + "\n")
