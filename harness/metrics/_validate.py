"""Input checks shared by every metric: shapes, finiteness, label ranges.

Each check raises `AbawError` with a message that names the argument (`what`), what was expected and what was found,
including the count of offending values and the first offending row, so a user can find the row in their file.
The checks are vectorised: they run on every scorer call, including on 3M-frame Aff-Wild2 arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from abaw_bench.harness.errors import AbawError


def first_row(bad: np.ndarray) -> int:
    """Index of the first row that has a True anywhere in `bad` (1-D or 2-D boolean)."""
    rows = bad if bad.ndim == 1 else bad.any(axis=1)
    return int(np.argmax(rows))


def as_float_matrix(values: Any, what: str, n_columns: int) -> np.ndarray:
    """A finite float64 (N, n_columns) array; a 1-D array is accepted when n_columns == 1."""
    array = _as_numeric(values, what)
    if array.ndim == 1 and n_columns == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != n_columns:
        raise AbawError(f"{what}: expected an array of shape (N, {n_columns}), found shape {array.shape}")
    array = array.astype(np.float64, copy=False)
    check_finite(array, what)
    return array


def as_float_vector(values: Any, what: str) -> np.ndarray:
    """A finite float64 (N,) array."""
    array = _as_numeric(values, what)
    if array.ndim != 1:
        raise AbawError(f"{what}: expected a 1-D array of shape (N,), found shape {array.shape}")
    array = array.astype(np.float64, copy=False)
    check_finite(array, what)
    return array


def check_finite(array: np.ndarray, what: str) -> None:
    """Reject NaN and ±inf, naming how many there are and the first row holding one."""
    finite = np.isfinite(array)
    if finite.all():
        return
    bad = ~finite
    raise AbawError(
        f"{what}: expected finite numbers, found {int(np.count_nonzero(bad))} NaN/inf value(s) "
        f"(first at row {first_row(bad)})"
    )


def as_binary(values: Any, what: str) -> np.ndarray:
    """A boolean (N,) array from labels that must all be 0 or 1 (ints, bools, or integral floats)."""
    array = _as_numeric(values, what)
    if array.ndim != 1:
        raise AbawError(f"{what}: expected a 1-D array of 0/1 labels, found shape {array.shape}")
    if array.dtype == np.bool_:
        return array
    if np.issubdtype(array.dtype, np.signedinteger):
        # Viewing signed as unsigned turns negatives into huge values: one comparison finds everything outside {0, 1}.
        bad = array.view(array.dtype.str.replace("i", "u")) > 1
    elif np.issubdtype(array.dtype, np.unsignedinteger):
        bad = array > 1
    else:
        bad = (array != 0) & (array != 1)  # NaN compares unequal to both, so it is caught here too
    _reject_bad_labels(array, bad, what, "0 or 1")
    return array != 0


def as_class_indices(values: Any, what: str, n_classes: int, invalid: int | None = None) -> np.ndarray:
    """An int64 (N,) array of class indices in [0, n_classes), or equal to `invalid` when that marker is allowed."""
    array = _as_numeric(values, what)
    if array.ndim != 1:
        raise AbawError(f"{what}: expected a 1-D array of class indices, found shape {array.shape}")
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        bad = (array < 0) | (array >= n_classes)
    else:
        bad = ~((array >= 0) & (array < n_classes) & (array == np.round(array)))  # also catches NaN
    if invalid is not None:
        bad &= array != invalid
    expected = f"an integer in 0..{n_classes - 1}" + (f" or {invalid} (invalid)" if invalid is not None else "")
    _reject_bad_labels(array, bad, what, expected)
    return array.astype(np.int64, copy=False)


def check_same_rows(n_pred: int, n_target: int, pred_what: str = "predictions", target_what: str = "labels") -> None:
    if n_pred != n_target:
        raise AbawError(
            f"{pred_what} have {n_pred} rows but {target_what} have {n_target}: they must be aligned row by row"
        )


def _as_numeric(values: Any, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype == np.bool_ or np.issubdtype(array.dtype, np.number):
        if np.issubdtype(array.dtype, np.complexfloating):
            raise AbawError(f"{what}: expected real numbers, found complex values")
        return array
    raise AbawError(f"{what}: expected numbers, found values of type {array.dtype}")


def _reject_bad_labels(array: np.ndarray, bad: np.ndarray, what: str, expected: str) -> None:
    count = int(np.count_nonzero(bad))
    if count:
        row = first_row(bad)
        found = f"{count} other value(s) (first at row {row}: {array[row].item()!r})"
        raise AbawError(f"{what}: expected {expected}, found {found}")
