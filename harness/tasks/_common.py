"""Helpers the BAH and Aff-Wild2 tasks share: split manifests shipped in the repository (`harness/splits/*.json`),
line-oriented file reading, manifest comparison and prediction-column access.

A shipped manifest file holds `task`, `version`, `splits` (split → ids) and optional extra keys (for the demo
datasets: the frame count of every video, so that `check()` notices a deleted frame). Only `task`, `version` and
`splits` enter the manifest's sha256.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.tasks.base import SPLITS, Manifest, Table

SPLITS_DIR = Path(__file__).resolve().parent.parent / "splits"


def load_shipped_manifest(filename: str) -> tuple[Manifest, dict[str, Any]]:
    """(manifest, the file's other keys) for `harness/splits/<filename>`."""
    path = SPLITS_DIR / filename
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise AbawError(f"{path}: cannot read the shipped split manifest ({error}); reinstall abaw-bench") from error
    missing = [key for key in ("task", "version", "splits") if key not in body]
    if missing:
        raise AbawError(f"{path}: shipped split manifest lacks the key(s) {', '.join(missing)}")
    splits = {split: tuple(body["splits"].get(split, ())) for split in SPLITS}
    manifest = Manifest(task=body["task"], version=body["version"], splits=splits, source="repository")
    extra = {key: value for key, value in body.items() if key not in ("task", "version", "splits")}
    return manifest, extra


# A decimal number as the label files write them. Python's float() and numpy also take "0_1" (digit grouping: 1.0),
# "١" (other scripts' digits) and "nan"/"inf"; a label file holding those is damaged, so readers match this first.
DECIMAL_NUMBER = re.compile(r"\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*")


def read_lines(path: Path) -> list[str]:
    """The file's lines without line endings (CRLF accepted); AbawError naming the file when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as error:
        raise AbawError(f"{path}: file not found") from error
    except (OSError, UnicodeDecodeError) as error:
        raise AbawError(f"{path}: cannot read as UTF-8 text ({error})") from error
    return text.splitlines()


def compare_lists(what: str, expected: dict[str, tuple[str, ...]], found: dict[str, tuple[str, ...]]) -> list[str]:
    """Problems where `found` (from the data root) disagrees with `expected` (the manifest), split by split."""
    problems = []
    for split in SPLITS:
        want, have = set(expected.get(split, ())), set(found.get(split, ()))
        for name in sorted(want - have):
            problems.append(f"{split}: {what} {name} is in the manifest but missing from the data root")
        for name in sorted(have - want):
            problems.append(f"{split}: {what} {name} is in the data root but not in the manifest (extra)")
    return problems


def check_aligned(predictions: Table, labels: Table) -> None:
    """Scorers need predictions row-aligned to labels; a mismatch is reported with its first differing row."""
    if predictions.ids == labels.ids:
        return
    if len(predictions.ids) != len(labels.ids):
        raise AbawError(f"predictions have {len(predictions.ids)} rows, the labels {len(labels.ids)}")
    row = next(i for i, (p, t) in enumerate(zip(predictions.ids, labels.ids, strict=True)) if p != t)
    raise AbawError(f"prediction row {row + 1} is {predictions.ids[row]!r}, the labels expect {labels.ids[row]!r}")


def column(table: Table, *names: str) -> np.ndarray | None:
    """The first of `names` that is a column of `table`, as a 1-D array, or None."""
    for name in names:
        if name in table.columns:
            return table.values[:, table.columns.index(name)]
    return None
