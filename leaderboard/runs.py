"""Finding the `results.json` files that `abaw-bench run` writes, each read as `harness.results.Results`.

A run directory tree is user data that may hold half-written or foreign files, so a file that does not read as
results becomes a `SkippedFile` (path + problem) rather than an error that hides every other run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.results import BadResults, Results, read_results
from abaw_bench.leaderboard.configs import run_config_hash

RESULTS_NAME = "results.json"
PREDICTIONS_NAME = "val_predictions.csv"
TRAIN_LOG_NAME = "train_log.jsonl"


@dataclass(frozen=True)
class SkippedFile:
    path: Path
    problem: str

    def to_json(self) -> dict[str, str]:
        return {"path": str(self.path), "problem": self.problem}


def run_summary(run: Results) -> dict[str, Any]:
    """What the leaderboard's and compare's --json say of one run: its figure, marks and provenance."""
    return {"path": str(run.path), "system": run.system, "task": run.task, "variant": run.variant,
            "metric": run.metric, "value": run.value, "demo": run.demo, "preset": run.preset,
            "random_encoders": list(run.random_encoders),
            "random_weights": bool(run.random_encoders) if run.weights_known else None,
            "marks": list(run.marks), "seed": run.seed, "data_root": run.data_root,
            "manifest_sha256": run.manifest_sha256, "encoder_fingerprints": dict(run.fingerprints),
            "git_commit": run.commit, "git_dirty": run.git_dirty, "device": run.device,
            "config_hash": run_config_hash(run)}


def scan_runs(directory: Path) -> tuple[list[Results], list[SkippedFile]]:
    """Every results.json under `directory` (recursively, in path order): the readable runs and the skipped files."""
    if not directory.is_dir():
        raise AbawError(f"--runs {directory}: not a directory (expected a folder holding run directories with "
                        f"{RESULTS_NAME} files, e.g. the --out of 'abaw-bench run')")
    runs: list[Results] = []
    skipped: list[SkippedFile] = []
    for path in sorted(directory.rglob(RESULTS_NAME)):
        try:
            runs.append(read_results(path))
        except BadResults as error:
            skipped.append(SkippedFile(path, error.reason))
    return runs, skipped
