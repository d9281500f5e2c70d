"""`abaw-bench weights`: the published weights a system's rows need, where they are, and fetching them (prefetch)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from abaw_bench.harness.cli._common import (
    add_command,
    add_download_root_arg,
    add_json_arg,
    add_task_arg,
    add_weights_arg,
    parse_weights,
)

EXAMPLES = """\
  abaw-bench weights --system hallmen2025 --task bah                 # what the BAH rows load, found or missing
  abaw-bench weights --system hallmen2025 --task bah --variant text --json
  abaw-bench weights --system wen2024 --download                     # fetch all of them (e.g. on a login node)
  HF_HOME=/shared/hf abaw-bench weights --system hallmen2024 --download --download-root /shared/whisper
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "weights", help="list (and with --download fetch) the published weights a system's rows need",
        description="For each encoder the system's rows load under the paper preset: the checkpoint (hub repository "
                    "and revision, or whisper file and sha256), its size on disk and where it was found, or "
                    "'missing'. Listing reads only this machine. --download fetches what is missing into the "
                    "Hugging Face cache (HF_HOME / HF_HUB_CACHE) and whisper's download root, so that a cluster "
                    "job on nodes without internet (HF_HUB_OFFLINE=1) finds them.",
        examples=EXAMPLES)
    what = parser.add_argument_group("what")
    what.add_argument("--system", required=True, metavar="S", help="system name (see `abaw-bench systems`)")
    add_task_arg(what, required=False)
    what.add_argument("--variant", default=None, metavar="V",
                      help="one row (variant) of the task; default: every row of the task (of every task without "
                           "--task)")
    where = parser.add_argument_group("where")
    add_weights_arg(where, per_encoder=True)  # listed instead of the published checkpoint
    add_download_root_arg(where)
    action = parser.add_argument_group("action")
    action.add_argument("--download", action="store_true",
                        help="download what is missing (needs internet; HF_HUB_OFFLINE must be unset)")
    add_json_arg(action)
    parser.set_defaults(handler=run)


def needed_encoders(system: str, task: str | None, variant: str | None) -> dict[str, list[str]]:
    """encoder → the "task/variant" rows that load it under the paper preset."""
    from abaw_bench.harness.errors import AbawError
    from abaw_bench.harness.systems import get_system

    spec = get_system(system)
    if task is None and variant is not None:
        raise AbawError("--variant needs --task (variant names are per task)")
    tasks = [task] if task is not None else list(spec.tasks)
    rows: dict[str, list[str]] = {}
    for name in tasks:
        variants = [spec.variant(name, variant)] if variant is not None else \
            [spec.variant(name, key) for key in spec.variants.get(name, {})] or [spec.variant(name, None)]
        for row in variants:
            for encoder in spec.encoders_needed(name, row, "paper"):
                rows.setdefault(encoder, []).append(f"{name}/{row.name}")
    return rows


def _human(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _revision(row: dict[str, Any]) -> str:
    """"main (unpinned)", "main = 0123abcd…" once a snapshot resolved it, a short sha256, or "-"."""
    revision = row["revision"]
    if revision is None:
        return "-"
    if row["resolved_commit"]:
        return f"{revision} = {row['resolved_commit'][:12]}"
    if revision.startswith("sha256:"):
        return revision[:19] + "…"
    return revision if row["pinned"] else f"{revision} (unpinned)"


def _print_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("no encoder weights needed: these rows read only the organisers' feature pickles")
        return
    header = ("encoder", "id", "revision", "size", "found")
    table = [header] + [(row["encoder"], row["id"] + ("" if row["role"] == "weights" else f" [{row['role']}]"),
                         _revision(row), _human(row["size_bytes"]), row["found"]) for row in rows]
    widths = [max(len(line[column]) for line in table) for column in range(len(header) - 1)]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=True)) + "  " + line[-1])
    if any(row["revision"] and not row["pinned"] for row in rows):
        print("unpinned: hub revisions are the branch 'main' (commit hashes not verified when this was written; "
              "see harness/encoders/weights.py); a cached snapshot shows the commit it resolved to")
    missing = sum(row["found"] == "missing" for row in rows)
    if missing:
        print(f"{missing} missing: run again with --download on a machine with internet (then copy the caches, or "
              "point HF_HOME and --download-root at shared storage)")


def run(args: argparse.Namespace) -> int:
    from abaw_bench.harness.encoders import weights
    from abaw_bench.harness.errors import AbawError

    given = parse_weights(args.weights)
    needed = needed_encoders(args.system, args.task, args.variant)
    if args.download:
        if weights.is_offline():
            raise AbawError("--download: downloads are off (HF_HUB_OFFLINE is set); unset it on a machine with "
                            "internet")
        for encoder in needed:
            if encoder not in given:
                for part in weights.sources(encoder):
                    print(f"[abaw-bench] {encoder}: {weights.describe_part(part)}", file=sys.stderr, flush=True)
                    weights.fetch(part, download_root=args.download_root)
    rows = [dict(row, rows=needed[encoder]) for encoder in needed
            for row in weights.status(encoder, download_root=args.download_root, given=given.get(encoder))]
    if args.json:
        json.dump({"system": args.system, "task": args.task, "variant": args.variant, "offline": weights.is_offline(),
                   "hf_cache": str(weights.hf_cache_dir()), "models": rows}, sys.stdout, indent=2)
        print()
    else:
        _print_table(rows)
    return 1 if args.download and any(row["found"] == "missing" for row in rows) else 0
