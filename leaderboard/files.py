"""Reading the files a report is built from (results.json, val_predictions.csv, train_log.jsonl, the paper tables).

They sit in directories a user names, so each is read as the validator reads a submission
(`harness.files.read_regular_file`): checked to be a regular file before it is opened (a FIFO or a device
there gets a message instead of blocking the report), read once, and decoded as UTF-8 with the byte at fault named.
"""

from __future__ import annotations

from pathlib import Path

from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.files import FileTooLarge, UnreadableFile, read_regular_file

MAX_BYTES = 1 << 30  # far above any run's files (a BAH validation split's predictions are ~20 MB)


class UnreadableText(AbawError):
    """`path` cannot be read as UTF-8 text; `reason` says why, for callers that report the path themselves."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.reason = reason


def read_text(path: Path, what: str, max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of the regular file `path` (`what` names it in messages, e.g. "the predictions"), refused
    before reading when larger than `max_bytes`."""
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
