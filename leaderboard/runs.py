"""Reading the `results.json` files that `abaw-bench run` writes (schema: `harness/provenance.py`).

Only the fields the leaderboard shows are read. A run directory tree is user data that may hold half-written or
foreign files, so a malformed file becomes a `SkippedFile` (path + problem) rather than an error that hides every
other run. The provenance fields are shown, never computed with, so a missing one reads as None instead of skipping
the run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.jsonio import MAX_FILE_BYTES, BadJson, loads
from abaw_bench.leaderboard.configs import canonical, config_fields, config_hash
from abaw_bench.leaderboard.files import UnreadableText, read_text

RESULTS_NAME = "results.json"
PREDICTIONS_NAME = "val_predictions.csv"
TRAIN_LOG_NAME = "train_log.jsonl"


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
    seed: int | None = None
    data_root: str | None = None  # "demo" or the data root's path
    manifest_sha256: str | None = None  # the split manifest's hash: two runs with the same hash share the split
    fingerprints: tuple[tuple[str, str], ...] = ()  # (input, encoder fingerprint) in input order
    commit: str | None = None
    git_dirty: bool | None = None
    device: str | None = None
    config_hash: str = ""  # `configs.config_hash`: runs with the same hash differ at most in the seed
    config: tuple[tuple[str, str], ...] = ()  # `configs.config_fields`, each value as canonical JSON
    breakdown: tuple[tuple[str, float], ...] = ()  # val.breakdown: per emotion / class (finite numbers only)
    threshold: float | None = None  # the validation-swept decision threshold (results.json "calibration"), if any

    @property
    def run_dir(self) -> Path:
        return self.path.parent

    @property
    def marks(self) -> tuple[str, ...]:
        """Why the figure is no reproduction of the paper: DEMO data, RANDOM-weight encoders, unknown weights."""
        marks = ["DEMO"] if self.demo else []
        if not self.weights_known:
            marks.append("weights unknown")
        elif self.random_encoders:
            marks.append("RANDOM: " + ", ".join(self.random_encoders))
        return tuple(marks)

    @property
    def is_reproduction(self) -> bool:
        """Real data and published encoder weights: the only runs whose figure is compared with the paper's."""
        return not self.marks

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "system": self.system, "task": self.task, "variant": self.variant,
                "metric": self.metric, "value": self.value, "demo": self.demo, "preset": self.preset,
                "random_encoders": list(self.random_encoders),
                "random_weights": bool(self.random_encoders) if self.weights_known else None,
                "marks": list(self.marks), "seed": self.seed, "data_root": self.data_root,
                "manifest_sha256": self.manifest_sha256, "encoder_fingerprints": dict(self.fingerprints),
                "git_commit": self.commit, "git_dirty": self.git_dirty, "device": self.device,
                "config_hash": self.config_hash}


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
    fingerprints = tuple((name, str(info.get("fingerprint"))) for name, info in (encoders or {}).items()
                         if isinstance(info, dict) and info.get("fingerprint") is not None)
    provenance = document.get("provenance")
    provenance = provenance if isinstance(provenance, dict) else {}
    identity = config_fields(document)
    calibration = document.get("calibration")
    threshold = _optional(calibration, "threshold", float) if isinstance(calibration, dict) else None
    return RunResult(path=path, system=system, task=task, variant=variant, metric=metric,
                     value=None if value is None else float(value), demo=demo, preset=preset,
                     random_encoders=random_encoders, weights_known=encoders is not None,
                     seed=_optional(provenance, "seed", int), data_root=_optional(data, "root", str),
                     manifest_sha256=_optional(data, "manifest_sha256", str), fingerprints=fingerprints,
                     commit=_optional(provenance, "git_commit", str),
                     git_dirty=_optional(provenance, "git_dirty", bool), device=_optional(provenance, "device", str),
                     config_hash=config_hash(identity),
                     config=tuple((name, canonical(value)) for name, value in identity.items()),
                     breakdown=_breakdown(val), threshold=threshold)


def _breakdown(val: dict[str, Any] | None) -> tuple[tuple[str, float], ...]:
    """val.breakdown's finite numbers, in file order; shown in a figure, never computed with, so anything else in it
    is left out rather than skipping the run."""
    breakdown = (val or {}).get("breakdown")
    if not isinstance(breakdown, dict):
        return ()
    return tuple((str(name), float(value)) for name, value in breakdown.items()
                 if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value))


def _optional(document: dict[str, Any], name: str, kind: type) -> Any:
    """A provenance field when it has the expected type, else None (shown as unknown, never guessed)."""
    value = document.get(name)
    if kind is int and isinstance(value, bool):
        return None
    return value if isinstance(value, kind) else None


def read_results(path: Path) -> RunResult | SkippedFile:
    try:
        return parse_results(loads(read_text(path, "the results", MAX_FILE_BYTES)), path)
    except (UnreadableText, BadJson) as error:
        return SkippedFile(path, error.reason)
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
