"""A background writer for extracted features, so the device never waits on file writes and fsync.

Every item's entry is written atomically (temp file, fsync, rename), which takes milliseconds per file on a local
disk and far more on network storage: done inline, a fast GPU would sit idle through it after every batch. The main
thread starts the device-to-host copy of a batch's outputs without waiting for it and hands the batch to this
thread, which waits for that copy (`ready`), writes the entries and reports the first error at the next `submit` or
at `close`. At most `max_pending` batches wait, which bounds the host memory they hold.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

Job = tuple[Path, Any]  # entry path, host-side output


class EntryWriter:
    def __init__(self, write: Callable[[Path, Any], None], *, max_pending: int = 4) -> None:
        self._write = write
        self._queue: queue.Queue[tuple[Sequence[Job], Callable[[], None] | None] | None] = queue.Queue(max_pending)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="abaw-feature-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (work := self._queue.get()) is not None:
            jobs, ready = work
            if self._error is not None:
                continue  # keep draining so that `submit` never blocks on a dead writer
            try:
                if ready is not None:
                    ready()
                for path, output in jobs:
                    if not path.exists():  # another process (a concurrent run) may have written it: keep the first
                        self._write(path, output)
            except BaseException as error:  # re-raised in the main thread
                self._error = error

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def submit(self, jobs: Sequence[Job], ready: Callable[[], None] | None = None) -> None:
        """Queue `jobs`; `ready()` (run on the writer thread first) blocks until their outputs are on the host."""
        self._raise_pending_error()
        if jobs:
            self._queue.put((jobs, ready))

    def close(self) -> None:
        """Write everything queued, stop the thread, raise the first write error."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise_pending_error()

    def __enter__(self) -> EntryWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is None:
            self.close()
            return
        # The block failed: still finish what is queued (complete entries stay valid), but let the block's error
        # propagate rather than a write error it may have caused.
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
