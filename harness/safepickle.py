"""Loading the organisers' feature pickles, which are untrusted input: numpy arrays only, nothing executable.

`pickle.load` calls whatever global a pickle names, so a crafted `vit/<id>.pkl` could run `os.system`. The
`RestrictedUnpickler` resolves only the globals a numpy array (or numpy scalar) pickle needs, under both spellings
(`numpy.core`, as numpy 1.x writes it, and `numpy._core`, numpy 2.x), and refuses anything else with an `AbawError`
naming the file and the global it reached for — before the global is imported or called. Plain containers (lists,
tuples, dicts) need no global and load as usual.
"""

from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from abaw_bench.harness.errors import AbawError

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """`_codecs.encode` as protocol-2 pickles use it for array bytes; only the latin-1 codec is admitted."""
    if codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"_codecs.encode with codec {encoding!r} (only latin1 is admitted)")
    return codecs.encode(text, "latin1")


def _allowed_globals() -> dict[tuple[str, str], Any]:
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
        ("builtins", "bytes"): bytes,  # protocol 2 writes an empty array's data as bytes()
        ("__builtin__", "bytes"): bytes,
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = _multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = _multiarray.scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = _numeric._frombuffer
    return allowed


ALLOWED_GLOBALS = _allowed_globals()


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler whose `find_class` admits only `ALLOWED_GLOBALS`; `source` names the file in errors."""

    def __init__(self, file: io.BufferedIOBase, source: str) -> None:
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise AbawError(
                f"{self.source}: refused to unpickle: it reaches for the global {module}.{name}; "
                "feature pickles may contain numpy arrays only (the file is untrusted and was not executed)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise AbawError(f"{self.source}: refused to unpickle: it uses persistent ids; expected numpy arrays only")


def load(path: str | Path) -> Any:
    """Unpickle `path` with `RestrictedUnpickler`; a malformed file is an AbawError naming it."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return RestrictedUnpickler(handle, str(path)).load()
    except AbawError:
        raise
    except OSError as error:
        raise AbawError(f"{path}: cannot read feature pickle: {error.strerror or error}") from None
    except Exception as error:  # truncated or corrupt pickles raise many kinds of errors
        raise AbawError(f"{path}: not a valid feature pickle ({type(error).__name__}: {error})") from None


def load_features(path: str | Path) -> np.ndarray:
    """One item's provided feature matrix [T, D] as float32: a numeric 2-D array (a 1-D array is one frame)."""
    value = load(path)
    if not isinstance(value, np.ndarray):
        raise AbawError(f"{path}: expected a numpy array of features [T, D], found {type(value).__name__}")
    if value.dtype.kind not in "fiu" or value.ndim not in (1, 2):
        raise AbawError(
            f"{path}: expected a numeric feature array [T, D], found dtype {value.dtype} with shape {value.shape}"
        )
    return np.ascontiguousarray(value.reshape(1, -1) if value.ndim == 1 else value, dtype=np.float32)
