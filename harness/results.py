"""`Results`: the results.json of a run, written by `abaw-bench run` and read by `leaderboard` and `compare`.

One dataclass for both sides: `harness.train.pipeline` builds it and writes `to_json()`, the readers get it from
`read_results`. Standard library and the base modules only (no torch, no task registry), so the torch-free listing
commands import it and no layer imports one above it.

results.json, schema_version 7:
    schema_version      int (2 added "notes"; 3 the manifest's version and source under "data"; 4 "demo_schedule"; 5
                        "skipped"; 6 "task_facts"; 7 "model", the model's settings (dropout) leaving "hyper")
    system, task, variant, row      the system, task, variant name and its paper-table row label
    task_facts          what a reader needs to know of the task without its registry: {"headline_metric" (the
                        task's reference metric, e.g. "mean_pearson"), "higher_is_better" (bool), "unit" ("clip":
                        one row per item; "frame": one row per frame of a video)}
    preset              "paper" | "tiny" (encoder preset)
    val                 the best epoch's validation metric {"metric" (name), "value", "breakdown" {column: value},
                        "warnings", "extra"} (MetricResult.to_json); null for train+val rows (nothing held out)
    best_epoch          1-based epoch whose weights are in best.pt (0: evaluated as built, no training; train+val
                        rows: the last epoch)
    epochs_run          epochs actually trained (early stopping may end before `hyper.epochs`)
    epochs_source       where the epoch count came from ("system default (...)", "demo schedule (...)", "--epochs",
                        "best epoch of ...")
    stopped_early       bool
    paper               the table's figures for this row ({"val": ..., "test": ...}; values may be null)
    notes               [str]: what this row's result must carry beside its figure (Variant.notes: a departure from
                        the authors' training the harness cannot close); [] for most rows
    hyper               the effective engine knobs (harness.systems.Hyper fields); `batch_size` is the global batch
    model               the model knobs the model was built with (the system's harness.systems.ModelKnobs fields)
    batch_size          {"global": the batch one optimiser step sees over all ranks (the paper's), "per_rank": each
                        torchrun rank's share, "world_size"}
    data                {"root": path or "demo", "demo": bool, "manifest_sha256": split manifest hash,
                        "manifest_version": e.g. "public-split-0-v1" (BAH's published split) or "data-root",
                        "manifest_source": "repository" (a shipped manifest matched the root), "data-root" (derived
                        from the root's split files) or "repository+data-root" (shipped, with ids found in the root)}
    encoders            per input name: {"encoder", "fingerprint", "weights", "random_weights", "unfrozen"?}; "weights"
                        is the checkpoint loaded (a Hugging Face cache snapshot path ends in the commit the download
                        resolved), "fingerprint" hashes the sha256 of each of its weight files
                        (harness/encoders/weights.py, "Revisions")
    submission          {"path": file name in the run directory, "valid": bool, "rows": int, "problems": [...]}
    config              the RunConfig as given (see config.json for the fully resolved one)
    provenance          {"git_commit": sha or "unknown", "git_dirty": bool | null, "packages": {torch,
                        transformers, numpy, abaw-bench}, "python", "platform", "seed", "device", "precision",
                        "deterministic" (cuDNN deterministic kernels: the resolved --deterministic), "world_size",
                        "started_at", "finished_at" (UTC ISO 8601), "wall_time_seconds"} (harness.provenance)
    calibration         only when the row sweeps a decision threshold on validation: {"threshold",
                        "val_value_at_threshold", "sweep"}
    demo_schedule       the Hyper fields this run took from its system's demo schedule (SystemSpec.demo: the
                        embedded demo only, and only the fields no flag or --hyper set); {} on real data
    skipped             the items left out because their media gave no features (--skip-bad; harness.train.pipeline):
                        {"skip_bad": bool, "reason", "splits": {split: {"count", "items" {id: the extraction's
                        message} (the first 100), "listed", and "left_out_of" (train, val) or "predicted_with" and
                        "constant_output" (test: its rows get the constant floor fitted on the training labels)}}};
                        "splits" is {} when nothing was skipped; "train" holds the training rows' items (also val's
                        for a train+val row)
    val_levels          only for a task with several submission levels (BAH): {level: {method: MetricResult}} for the
                        levels beyond the first
    submissions         only then too: [{"level", "method", "path", "valid"}], one per submission file written

Reading (`read_results`, `Results.from_json`) accepts every schema version the harness wrote (and a file without
one): "system", "task", "variant" (strings), "val" (an object with a string "metric" and a number or null "value",
or null) and "data" with a boolean "demo" are required, and a malformed one is a `BadResults` naming the field.
Everything else is shown, never computed with: a field that is missing (an older schema; "task_facts" before 6) or
of the wrong type reads as None or empty rather than refusing the run.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.files import UnreadableText, read_text
from abaw_bench.harness.jsonio import MAX_FILE_BYTES, BadJson, loads

SCHEMA_VERSION = 7


class BadResults(AbawError):
    """A results.json that cannot be read as one (unreadable, not bounded JSON, or a required field malformed);
    `reason` says what was found, for callers that name the file themselves."""

    def __init__(self, path: os.PathLike[str] | str, reason: str) -> None:
        super().__init__(f"{os.fspath(path)}: {reason}")
        self.path, self.reason = Path(path), reason


class _Malformed(Exception):
    pass


@dataclass(frozen=True)
class TaskFacts:
    """What results.json records of its task, so that a reader needs no task registry (schema: module docstring)."""

    headline_metric: str
    higher_is_better: bool
    unit: str

    @classmethod
    def of(cls, task: Any) -> TaskFacts:
        """The facts of a registered `harness.tasks.base.Task`."""
        return cls(task.headline_metric, bool(task.higher_is_better), task.unit)

    def to_json(self) -> dict[str, Any]:
        return {"headline_metric": self.headline_metric, "higher_is_better": self.higher_is_better,
                "unit": self.unit}


class _Shown:
    """A read-only view of one field of a section of Results (`section` names the attribute holding the JSON
    object), as `kind` or None."""

    def __init__(self, section: str, name: str, kind: type) -> None:
        self.section, self.name, self.kind = section, name, kind

    def __get__(self, results: Any, owner: type | None = None) -> Any:
        return self if results is None else _optional(getattr(results, self.section), self.name, self.kind)


@dataclass(frozen=True)
class Results:
    """One run's results.json (schema: module docstring). The sections a reader only shows stay JSON objects."""

    system: str
    task: str
    variant: str
    val: dict[str, Any] | None
    data: dict[str, Any]
    task_facts: TaskFacts | None = None  # None: written before schema 6
    row: str | None = None
    preset: str | None = None
    best_epoch: int | None = None
    epochs_run: int | None = None
    epochs_source: str | None = None
    stopped_early: bool | None = None
    paper: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    hyper: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)  # {}: written before schema 7
    batch_size: dict[str, Any] = field(default_factory=dict)
    encoders: dict[str, Any] | None = None  # None: no record of the encoders' weights
    submission: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    demo_schedule: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, Any] = field(default_factory=dict)
    val_levels: dict[str, Any] | None = None
    submissions: list[dict[str, Any]] | None = None
    schema_version: int | None = SCHEMA_VERSION  # None: a file without one
    path: Path | None = field(default=None, compare=False)  # the file it was read from; None for one being written

    # ------------------------------------------------------------------------------------------------ writing

    def to_json(self) -> dict[str, Any]:
        """The results.json document, in the schema's field order; the optional sections only when present."""
        document: dict[str, Any] = {
            "schema_version": self.schema_version, "system": self.system, "task": self.task,
            "task_facts": None if self.task_facts is None else self.task_facts.to_json(),
            "variant": self.variant, "row": self.row, "preset": self.preset, "val": self.val,
            "best_epoch": self.best_epoch, "epochs_run": self.epochs_run, "epochs_source": self.epochs_source,
            "stopped_early": self.stopped_early, "paper": self.paper, "notes": list(self.notes), "hyper": self.hyper,
            "model": self.model, "batch_size": self.batch_size, "data": self.data, "encoders": self.encoders,
            "submission": self.submission, "config": self.config, "provenance": self.provenance}
        if self.calibration:
            document["calibration"] = self.calibration
        document["demo_schedule"] = self.demo_schedule
        document["skipped"] = self.skipped
        if self.val_levels:
            document["val_levels"] = self.val_levels
        if self.submissions is not None:
            document["submissions"] = self.submissions
        return document

    # ------------------------------------------------------------------------------------------------ reading

    @classmethod
    def from_json(cls, document: Any, path: Path | None = None) -> Results:
        """The document as Results; BadResults naming the field when a required one is malformed."""
        try:
            return cls._parse(document, path)
        except _Malformed as error:
            raise BadResults(path or "results.json", str(error)) from None

    @classmethod
    def _parse(cls, document: Any, path: Path | None) -> Results:
        if not isinstance(document, dict):
            raise _Malformed(f"expected a JSON object, found {type(document).__name__}")
        system = _field(document, "system", (str,), "a string")
        task = _field(document, "task", (str,), "a string")
        variant = _field(document, "variant", (str,), "a string")
        val = _field(document, "val", (dict, type(None)), "an object or null")
        if val is not None:
            _field(val, "metric", (str,), "a string", "val.")
            _field(val, "value", (int, float, type(None)), "a number or null", "val.")
        data = _field(document, "data", (dict,), "an object")
        _field(data, "demo", (bool,), "true or false", "data.")
        preset = document.get("preset")
        if preset is not None and not isinstance(preset, str):
            raise _Malformed(f"field 'preset': expected a string, found {preset!r}")
        encoders = document.get("encoders")
        if encoders is not None and not isinstance(encoders, dict):
            raise _Malformed(f"field 'encoders': expected an object, found {encoders!r}")
        notes = document.get("notes")
        submissions = document.get("submissions")
        return cls(
            system=system, task=task, variant=variant, val=val, data=data,
            task_facts=_task_facts(document.get("task_facts")), row=_optional(document, "row", str), preset=preset,
            best_epoch=_optional(document, "best_epoch", int), epochs_run=_optional(document, "epochs_run", int),
            epochs_source=_optional(document, "epochs_source", str),
            stopped_early=_optional(document, "stopped_early", bool), paper=_object(document, "paper"),
            notes=tuple(note for note in notes if isinstance(note, str)) if isinstance(notes, list) else (),
            hyper=_object(document, "hyper"), model=_object(document, "model"),
            batch_size=_object(document, "batch_size"), encoders=encoders,
            submission=_object(document, "submission"), config=_object(document, "config"),
            provenance=_object(document, "provenance"), calibration=_optional(document, "calibration", dict),
            demo_schedule=_object(document, "demo_schedule"), skipped=_object(document, "skipped"),
            val_levels=_optional(document, "val_levels", dict),
            submissions=submissions if isinstance(submissions, list) else None,
            schema_version=_optional(document, "schema_version", int), path=path)

    # ------------------------------------------------------------------------------------------------ views

    @property
    def run_dir(self) -> Path:
        if self.path is None:
            raise ValueError("these results were not read from a file")
        return self.path.parent

    @property
    def metric(self) -> str | None:
        """The validation metric's name; None for train+val runs, which have no held-out validation."""
        return None if self.val is None else self.val["metric"]

    @property
    def value(self) -> float | None:
        """The validation figure; None without one, and for a NaN metric (e.g. constant predictions: shown as "–",
        not as a figure)."""
        value = None if self.val is None else self.val["value"]
        return None if value is None or not math.isfinite(value) else float(value)

    @property
    def breakdown(self) -> tuple[tuple[str, float], ...]:
        """val.breakdown's finite numbers, in file order; shown in a figure, never computed with, so anything else
        in it is left out rather than refusing the run."""
        breakdown = (self.val or {}).get("breakdown")
        if not isinstance(breakdown, dict):
            return ()
        return tuple((str(name), float(value)) for name, value in breakdown.items()
                     if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value))

    @property
    def demo(self) -> bool:
        """Trained and scored on the embedded synthetic demo dataset."""
        return self.data["demo"]

    # shown fields of the JSON sections: None when absent or of another type (shown as unknown, never guessed)
    data_root = _Shown("data", "root", str)  # "demo" or the data root's path
    manifest_sha256 = _Shown("data", "manifest_sha256", str)  # two runs with the same hash share the split
    seed = _Shown("provenance", "seed", int)
    commit = _Shown("provenance", "git_commit", str)
    git_dirty = _Shown("provenance", "git_dirty", bool)
    device = _Shown("provenance", "device", str)

    @property
    def weights_known(self) -> bool:
        """False when results.json has no "encoders" record."""
        return self.encoders is not None

    @property
    def random_encoders(self) -> tuple[str, ...]:
        """The inputs whose encoder had random weights (not the published checkpoint), sorted."""
        return tuple(sorted(name for name, info in (self.encoders or {}).items()
                            if isinstance(info, dict) and info.get("random_weights") is True))

    @property
    def fingerprints(self) -> tuple[tuple[str, str], ...]:
        """(input, encoder fingerprint) in input order."""
        return tuple((name, str(info.get("fingerprint"))) for name, info in (self.encoders or {}).items()
                     if isinstance(info, dict) and info.get("fingerprint") is not None)

    @property
    def threshold(self) -> float | None:
        """The validation-swept decision threshold, if the row swept one."""
        return None if self.calibration is None else _optional(self.calibration, "threshold", float)

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


def read_results(path: Path) -> Results:
    """The results.json at `path`, read bounded (`harness.files`, `harness.jsonio`); BadResults saying why not."""
    try:
        return Results.from_json(loads(read_text(path, "the results", MAX_FILE_BYTES)), path)
    except (UnreadableText, BadJson) as error:
        raise BadResults(path, error.reason) from None


def _field(document: dict[str, Any], name: str, kinds: tuple[type, ...], expected: str, parent: str = "") -> Any:
    if name not in document:
        raise _Malformed(f"missing field {parent + name!r}")
    value = document[name]
    is_stray_bool = isinstance(value, bool) and bool not in kinds  # JSON true is not a number here
    if is_stray_bool or not isinstance(value, kinds):
        raise _Malformed(f"field {parent + name!r}: expected {expected}, found {value!r}")
    return value


def _optional(document: dict[str, Any], name: str, kind: type) -> Any:
    """A shown field when it has the expected type, else None (shown as unknown, never guessed)."""
    value = document.get(name)
    if kind in (int, float) and isinstance(value, bool):
        return None
    if kind is float and isinstance(value, int):
        return float(value)
    return value if isinstance(value, kind) else None


def _object(document: dict[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name)
    return value if isinstance(value, dict) else {}


def _task_facts(value: Any) -> TaskFacts | None:
    if not isinstance(value, dict):
        return None
    metric, higher, unit = value.get("headline_metric"), value.get("higher_is_better"), value.get("unit")
    if not (isinstance(metric, str) and isinstance(higher, bool) and isinstance(unit, str)):
        return None
    return TaskFacts(metric, higher, unit)
