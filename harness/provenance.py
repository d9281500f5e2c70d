"""Provenance of a run and the schema of `results.json` (what `abaw-bench run` writes; bump SCHEMA_VERSION on change).

results.json, schema_version 5:
    schema_version      int, 5 (2 added "notes"; 3 added the manifest's version and source under "data"; 4 added
                        "demo_schedule"; 5 added "skipped")
    system, task, variant, row      the system, task, variant name and its paper-table row label
    preset              "paper" | "tiny" (encoder preset)
    val                 the best epoch's validation metric {"metric" (name), "value", "breakdown" {column: value},
                        "warnings", "extra"} (MetricResult.to_json); null for train+val rows (nothing held out)
    best_epoch          1-based epoch whose weights are in best.pt (0: evaluated as built, no training; train+val
                        rows: the last epoch)
    epochs_run          epochs actually trained (early stopping may end before `hyper.epochs`)
    epochs_source       where the epoch count came from ("system default (...)", "demo schedule (...)", "--epochs",
                        "best epoch of ...")
    demo_schedule       the Hyper fields this run took from its system's demo schedule (SystemSpec.demo: the
                        embedded demo only, and only the fields no flag or --hyper set); {} on real data
    stopped_early       bool
    skipped             the items left out because their media gave no features (--skip-bad; harness.train.pipeline):
                        {"skip_bad": bool, "reason", "splits": {split: {"count", "items" {id: the extraction's
                        message} (the first 100), "listed", and "left_out_of" (train, val) or "predicted_with" and
                        "constant_output" (test: its rows get the constant floor fitted on the training labels)}}};
                        "splits" is {} when nothing was skipped; "train" holds the training rows' items (also val's
                        for a train+val row)
    paper               the table's figures for this row ({"val": ..., "test": ...}; values may be null)
    notes               [str]: what this row's result must carry beside its figure (Variant.notes: a departure from
                        the authors' training the harness cannot close); [] for most rows
    hyper               the effective hyper-parameters (harness.systems.Hyper fields); `batch_size` is the global batch
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
                        "started_at", "finished_at" (UTC ISO 8601), "wall_time_seconds"}
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 5
PACKAGES = ("torch", "transformers", "numpy", "abaw-bench")
REPOSITORY = Path(__file__).resolve().parent.parent


def git_commit(repository: Path = REPOSITORY) -> tuple[str, bool | None]:
    """(commit sha, working tree dirty?) of the harness checkout; ("unknown", None) outside git or without commits."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repository, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repository,
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown", None
    return sha or "unknown", bool(status.strip())


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat(timespec="seconds")


def build_results(*, config: Any, spec: Any, variant: Any, hyper: Any, task: Any, metric: Any, fit: Any,
                  epochs_source: str, data_root: Path, demo: bool, manifest: Any,
                  encoders: dict[str, dict[str, Any]], device: str, precision: str, deterministic: bool,
                  world_size: int, per_rank_batch: int, started: float, submission: Path,
                  report: Any) -> dict[str, Any]:
    """The results.json document (schema above)."""
    commit, dirty = git_commit()
    finished = time.time()
    trained_epochs = [entry["epoch"] for entry in fit.history if entry["epoch"] > 0]
    return {
        "schema_version": SCHEMA_VERSION,
        "system": spec.name,
        "task": task.name,
        "variant": variant.name,
        "row": variant.row,
        "preset": config.preset,
        "val": None if metric is None else metric.to_json(),
        "best_epoch": fit.best_epoch,
        "epochs_run": len(trained_epochs),
        "epochs_source": epochs_source,
        "stopped_early": fit.stopped_early,
        "paper": dict(variant.paper),
        "notes": list(variant.notes),
        "hyper": asdict(hyper),
        "batch_size": {"global": hyper.batch_size, "per_rank": per_rank_batch, "world_size": world_size},
        "data": {"root": "demo" if demo else str(data_root), "demo": demo, "manifest_sha256": manifest.sha256(),
                 "manifest_version": manifest.version, "manifest_source": manifest.source},
        "encoders": encoders,
        "submission": {"path": submission.name, "valid": report.ok, "rows": report.data_rows,
                       "problems": [problem.to_json() for problem in report.problems]},
        "config": config.to_json(),
        "provenance": {
            "git_commit": commit,
            "git_dirty": dirty,
            "packages": package_versions(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "seed": config.seed,
            "device": device,
            "precision": precision,
            "deterministic": deterministic,
            "world_size": world_size,
            "started_at": _iso(started),
            "finished_at": _iso(finished),
            "wall_time_seconds": round(finished - started, 3),
        },
    }
