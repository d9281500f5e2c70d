"""Who may write a run directory, and how an existing run in it is kept or replaced.

One run per run directory: `run` holds `run.lock` inside it for as long as it runs (an exclusive `fcntl.flock`,
with the holder's pid, host and start time written in the file for the message a second run gets). The kernel
drops the lock when its process ends, however it ends, so a lock file whose lock is free was left by a run that
died (SIGKILL, power loss): that stale lock is said and taken over. Under torchrun only rank 0 locks, for all ranks.

A directory that already holds a run (finished: results.json; partial: any other file) is refused unless the user
says what to do with it:
- `--resume` continues it in place;
- `--overwrite` trains the new run in a staging directory beside it (`.<name>.overwrite`) and only when the new run
  has finished swaps the two directories (atomically with Linux's renameat2 RENAME_EXCHANGE, else by two renames)
  and deletes the old one, so a failed or interrupted overwrite leaves the old run as it was.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from abaw_bench.harness.errors import AbawError

LOCK_NAME = "run.lock"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def staging_dir(run_dir: Path) -> Path:
    """Where `--overwrite` builds the new run: beside the old one (same file system, so the swap is a rename)."""
    return run_dir.parent / f".{run_dir.name}.overwrite"


def existing_run(run_dir: Path) -> str | None:
    """What the directory holds, in words ("a finished run (results.json)", "a partial run (config.json, last.pt)"),
    or None when it is absent or holds nothing but a lock."""
    if not run_dir.is_dir():
        return None
    names = sorted(entry.name for entry in run_dir.iterdir() if entry.name != LOCK_NAME)
    if not names:
        return None
    if "results.json" in names:
        return "a finished run (results.json)"
    return f"a partial run ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})"


def refusal(run_dir: Path, held: str) -> str:
    return (f"{run_dir} holds {held}: give --resume to continue it, or --overwrite to replace it (the old run stays "
            "until the new one has finished), or choose another --out or --seed")


def _holder_text(record: dict[str, object]) -> str:
    started = record.get("started")
    since = ""
    if isinstance(started, (int, float)):
        # A tampered record's time may be no date at all: then the rest is named without it.
        with contextlib.suppress(OverflowError, ValueError, OSError):
            since = f", since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started))}"
    return f"pid {record.get('pid', '?')} on host {record.get('host', '?')}{since}"


def _read_record(fd: int) -> dict[str, object] | None:
    """The holder record in the lock file (None when it is empty or unreadable: nothing to name)."""
    data = os.pread(fd, 4096, 0)
    if not data.strip():
        return None
    try:
        record = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


class RunLock:
    """The held lock; `release` deletes the lock file (only if it is still this lock's file) and drops the lock."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            if os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:  # a swapped-in directory has its own
                self.path.unlink()
        os.close(self.fd)


def acquire(run_dir: Path, say: Callable[[str], None]) -> RunLock:
    """Lock `run_dir` (created if absent) for this process; AbawError naming the holder when another run has it."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise AbawError(f"{run_dir}: cannot be a run directory ({error.strerror}: {error.filename})") from error
    except OSError as error:
        raise AbawError(f"{run_dir}: cannot create the run directory ({error.strerror})") from error
    path = run_dir / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            record = _read_record(fd)
            os.close(fd)
            holder = _holder_text(record) if record else "a process that has not written its name yet"
            raise AbawError(f"{run_dir} is in use by another run ({holder}; lock {path}): one run per run "
                            "directory; wait for it to end, or choose another --out or --seed") from None
        try:
            same_file = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same_file = False
        if same_file:
            break
        os.close(fd)  # the holder released and deleted the file between our open and our lock: open the new one
    previous = _read_record(fd)
    if previous is not None:
        here = previous.get("host") == socket.gethostname()
        fate = ("that process is no longer running" if not _pid_alive(previous.get("pid")) else
                "its process no longer holds it") if here else "it no longer holds it"
        say(f"stale lock {path} left by {_holder_text(previous)} ({fate}); taking it over")
    record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, record, 0)
    return RunLock(path, fd)


def prepare_staging(run_dir: Path, say: Callable[[str], None]) -> Path:
    """An empty staging directory for `--overwrite` (one left by an interrupted overwrite is deleted first)."""
    staging = staging_dir(run_dir)
    if staging.exists():
        say(f"deleting {staging}, left by an interrupted --overwrite")
        shutil.rmtree(staging)
    staging.mkdir()
    return staging


def _exchange(first: Path, second: Path) -> bool:
    """Swap two directories in one atomic step (Linux renameat2); False where the system or file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(first))


def replace_with_staging(run_dir: Path, staging: Path) -> None:
    """Put the finished staging run in `run_dir`'s place and delete the old run."""
    if not _exchange(staging, run_dir):
        retired = run_dir.parent / f".{run_dir.name}.replaced"
        shutil.rmtree(retired, ignore_errors=True)
        os.rename(run_dir, retired)
        os.rename(staging, run_dir)
        staging = retired
    shutil.rmtree(staging)


@contextlib.contextmanager
def claimed(run_dir: Path, *, resume: bool, overwrite: bool, is_main: bool, broadcast: Callable[[object], object],
            say: Callable[[str], None]) -> Iterator[Path]:
    """Hold `run_dir` for one run and yield the directory to write into (`run_dir` itself, or the staging directory
    of `--overwrite`, which replaces `run_dir` when the block ends without error and is deleted when it fails).

    `broadcast` sends rank 0's verdict to every rank (under torchrun only rank 0 looks at the files), so that a
    refused run ends on every rank at once.
    """
    lock: RunLock | None = None
    problem: str | None = None
    if is_main:
        try:
            lock = acquire(run_dir, say)
            held = existing_run(run_dir)
            if held is not None and not (resume or overwrite):
                problem = refusal(run_dir, held)
            elif overwrite:
                if held is not None:
                    say(f"--overwrite: {run_dir} holds {held}; the new run is written to {staging_dir(run_dir)} "
                        "and replaces it when it has finished")
                prepare_staging(run_dir, say)
        except AbawError as error:
            problem = str(error)
    problem = broadcast(problem)
    try:
        if problem is not None:
            raise AbawError(problem)
        if not overwrite:
            yield run_dir
            return
        staging = staging_dir(run_dir)
        try:
            yield staging
        except BaseException:
            if is_main:
                shutil.rmtree(staging, ignore_errors=True)
                say(f"--overwrite did not finish; {run_dir} is unchanged")
            raise
        if is_main:
            replace_with_staging(run_dir, staging)
    finally:
        if lock is not None:
            lock.release()
