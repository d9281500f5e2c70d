"""Reading the torch files a user hands the harness (a run's `last.pt` for `--resume`, encoder weights): weights-only,
and every way such a file can be wrong is a message naming it.

`torch.load(weights_only=True)` refuses a pickle that holds Python objects beyond tensors and plain containers (what
`torch.save(model)` writes): unpickling those could run any code. Torch's own message then advises retrying with
`weights_only=False`; the harness never repeats that advice (it is exactly the unsafe load the refusal protects
against) and says instead that the file is not a weights-only checkpoint. Torch's warnings while reading a foreign
pickle ("please file an issue") are silenced: the message says what is wrong.

Standard library only at import time (torch is imported by the callers).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import warnings
import zipfile
from collections.abc import Iterator

from abaw_bench.harness.errors import AbawError, printable

_DETAIL_CHARS = 200  # of the loader's own message: enough to say what it found, bounded whatever the file holds
_NAME_CHARS = 120  # of a global's name a refused pickle reaches for
_REFUSED_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")  # torch's wording when weights_only refuses one


def load_error(path: str | os.PathLike[str], error: BaseException, what: str) -> AbawError:
    """The message for `error`, raised while loading `path` (a `what`, e.g. "checkpoint"): the file and what is
    wrong with it, never torch's advice to load it unsafely."""
    name = printable(os.fspath(path))
    text = str(error).strip()
    if isinstance(error, FileNotFoundError):
        return AbawError(f"{name}: no such file (expected a {what})")
    if isinstance(error, pickle.UnpicklingError) and "weights only" in text.lower():
        refused = _REFUSED_GLOBAL.search(text)
        found = (f"it is a pickle naming the Python object {refused[1][:_NAME_CHARS]}" if refused else
                 "it is no pickle of tensors and plain containers alone")
        return AbawError(f"{name}: not a weights-only {what}: {found}, which abaw-bench does not load (unpickling "
                         "objects could run any code); save the tensors alone (torch.save(model.state_dict(), "
                         "path)) or as .safetensors")
    if isinstance(error, EOFError) or _damaged_zip(path):
        return AbawError(f"{name}: empty, cut short or damaged: not a complete {what} (torch.save writes a zip "
                         "archive; this one cannot be read to its end)")
    detail = "" if "weights_only" in text else f": {' '.join(text.split())[:_DETAIL_CHARS]}"
    return AbawError(f"{name}: not a readable {what} ({type(error).__name__}{detail})")


def _damaged_zip(path: str | os.PathLike[str]) -> bool:
    """Whether `path` starts as a zip archive (what torch.save writes) but is not a whole one: torch then reports
    anything from "failed finding central directory" to EINVAL, depending on how it reads the file."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"PK\x03\x04" and not zipfile.is_zipfile(path)
    except OSError:
        return False


@contextlib.contextmanager
def reading(path: str | os.PathLike[str], what: str) -> Iterator[None]:
    """Around the load of one torch file (torch.load, safetensors, a library's loader built on them): any failure
    becomes `load_error`'s message (AbawError passes through), and torch's warnings about the file stay quiet."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        except AbawError:
            raise
        except Exception as error:  # torch and safetensors raise UnpicklingError, RuntimeError, EOFError, KeyError...
            raise load_error(path, error, what) from error
