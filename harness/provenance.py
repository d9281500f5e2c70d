"""Where and how a run ran: the "provenance" section of results.json (the schema: `harness.results.Results`).

The commit and packages say which code computed a figure, the device, precision and determinism how, the times when.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

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


def run_provenance(*, seed: int, device: str, precision: str, deterministic: bool, world_size: int,
                   started: float) -> dict[str, Any]:
    """results.json's "provenance" for a run that started at `started` (time.time()) and finishes now."""
    commit, dirty = git_commit()
    finished = time.time()
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "seed": seed,
        "device": device,
        "precision": precision,
        "deterministic": deterministic,
        "world_size": world_size,
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "wall_time_seconds": round(finished - started, 3),
    }
