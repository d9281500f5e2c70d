"""Reading the `results.json` files that `abaw-bench run` writes (schema: `harness/provenance.py`).

Only the fields the leaderboard shows are read. A run directory tree is user data that may hold half-written or
foreign files, so a malformed file becomes a `SkippedFile` (path + problem) rather than an error that hides every
other run.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abaw_bench.harness.errors import AbawError

RESULTS_NAME = "results.json"


@dataclass(frozen=True)
class RunResult:
    path: Path  # the results.json file
    system: str
    task: str
    variant: str
    metric: str | None  # None for train+val runs, which have no held-out validation
    value: float | None
    demo: bool  # trained and scored on the embedded synthetic demo dataset
    preset: str | None
    random_encoders: tuple[str, ...]  # inputs whose encoder had random weights (not the published checkpoint)
    weights_known: bool  # False when results.json has no "encoders" record

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "system": self.system, "task": self.task, "variant": self.variant,
                "metric": self.metric, "value": self.value, "demo": self.demo, "preset": self.preset,
                "random_encoders": list(self.random_encoders),
                "random_weights": bool(self.random_encoders) if self.weights_known else None}


@dataclass(frozen=True)
class SkippedFile:
    path: Path
    problem: str

    def to_json(self) -> dict[str, str]:
        return {"path": str(self.path), "problem": self.problem}


class _Malformed(Exception):
    pass


def _field(document: dict[str, Any], name: str, kinds: tuple[type, ...], expected: str, parent: str = "") -> Any:
    if name not in document:
        raise _Malformed(f"missing field {parent + name!r}")
    value = document[name]
    is_stray_bool = isinstance(value, bool) and bool not in kinds  # JSON true is not a number here
    if is_stray_bool or not isinstance(value, kinds):
        raise _Malformed(f"field {parent + name!r}: expected {expected}, found {value!r}")
    return value


def parse_results(document: Any, path: Path) -> RunResult:
    """The leaderboard's view of one results.json document; raises _Malformed naming the field at fault."""
    if not isinstance(document, dict):
        raise _Malformed(f"expected a JSON object, found {type(document).__name__}")
    system = _field(document, "system", (str,), "a string")
    task = _field(document, "task", (str,), "a string")
    variant = _field(document, "variant", (str,), "a string")
    val = _field(document, "val", (dict, type(None)), "an object or null")
    metric = value = None
    if val is not None:
        metric = _field(val, "metric", (str,), "a string", "val.")
        value = _field(val, "value", (int, float, type(None)), "a number or null", "val.")
        if value is not None and not math.isfinite(value):
            value = None  # a NaN metric (e.g. constant predictions) is shown as "–", not as a figure
    data = _field(document, "data", (dict,), "an object")
    demo = _field(data, "demo", (bool,), "true or false", "data.")
    preset = document.get("preset")
    if preset is not None and not isinstance(preset, str):
        raise _Malformed(f"field 'preset': expected a string, found {preset!r}")
    encoders = document.get("encoders")
    if encoders is not None and not isinstance(encoders, dict):
        raise _Malformed(f"field 'encoders': expected an object, found {encoders!r}")
    random_encoders = tuple(sorted(name for name, info in (encoders or {}).items()
                                   if isinstance(info, dict) and info.get("random_weights") is True))
    return RunResult(path=path, system=system, task=task, variant=variant, metric=metric,
                     value=None if value is None else float(value), demo=demo, preset=preset,
                     random_encoders=random_encoders, weights_known=encoders is not None)


def read_results(path: Path) -> RunResult | SkippedFile:
    try:
        return parse_results(json.loads(path.read_text(encoding="utf-8")), path)
    except OSError as error:
        return SkippedFile(path, f"cannot read: {error.strerror or error}")
    except UnicodeDecodeError as error:
        return SkippedFile(path, f"not UTF-8 text ({error.reason} at byte {error.start})")
    except json.JSONDecodeError as error:
        return SkippedFile(path, f"line {error.lineno}, column {error.colno}: invalid JSON: {error.msg}")
    except _Malformed as error:
        return SkippedFile(path, str(error))


def scan_runs(directory: Path) -> tuple[list[RunResult], list[SkippedFile]]:
    """Every results.json under `directory` (recursively, in path order): the readable runs and the skipped files."""
    if not directory.is_dir():
        raise AbawError(f"--runs {directory}: not a directory (expected a folder holding run directories with "
                        f"{RESULTS_NAME} files, e.g. the --out of 'abaw-bench run')")
    runs: list[RunResult] = []
    skipped: list[SkippedFile] = []
    for path in sorted(directory.rglob(RESULTS_NAME)):
        outcome = read_results(path)
        (runs if isinstance(outcome, RunResult) else skipped).append(outcome)
    return runs, skipped
