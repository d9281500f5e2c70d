"""`abaw-bench splits`: a task's fixed split manifest — item and row counts, version, source and sha256 — and
whether the data root agrees with it (missing or extra items are errors, exit 1)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from abaw_bench.harness.cli._common import add_command, add_data_root_arg, add_json_arg, add_task_arg

EXAMPLES = """\
  abaw-bench splits --task bah
  abaw-bench splits --task bah --data-root /data/BAH      # public split-0, or a manifest derived from the root
  abaw-bench splits --task va --data-root /data/aff-wild2
  abaw-bench splits --task emi --data-root /data/hume-vidmimic2 --json
"""

# What each Manifest.source says about the root, in words (the JSON report carries the source itself).
MANIFEST_SOURCES = {
    "repository": "the root matches the shipped manifest {version} (harness/splits)",
    "repository+data-root": "the shipped manifest {version} governs the root; the ids of a split it leaves to the "
                            "release were discovered from the root",
    "data-root": "the manifest is derived from the root's own split files: it matches no shipped manifest",
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "splits", help="show a task's split manifest and check a data root against it",
                         description="Print per split the number of items (clips or videos) and of submission rows "
                                     "per level (frames where the task has them), the manifest's version, source and "
                                     "sha256, then check the data root against the manifest. Exits 1 when the root "
                                     "disagrees (missing or extra items, frames, participants in two splits).",
                         examples=EXAMPLES)
    what = parser.add_argument_group("what to show")
    add_task_arg(what)
    add_data_root_arg(what)
    add_json_arg(parser.add_argument_group("output"))
    parser.set_defaults(handler=run)


def split_report(task_name: str, data_root: str | None) -> dict[str, Any]:
    """Counts, manifest identity and the root's disagreements with it, as one JSON-ready record."""
    from abaw_bench.harness.dataroot import resolve_data_root
    from abaw_bench.harness.errors import AbawError
    from abaw_bench.harness.paths import is_demo_root
    from abaw_bench.harness.tasks import get_task

    task = get_task(task_name)
    root = resolve_data_root(task.name, data_root)
    reader = task.reader(root)
    manifest = reader.manifest()
    problems: list[str] = []
    splits: dict[str, Any] = {}
    for split, ids in manifest.splits.items():
        rows: dict[str, int | None] = {}
        for position, level in enumerate(task.levels):
            try:  # the default level is asked for as None, which every reader accepts
                rows[level] = len(reader.reference_rows(split, None if position == 0 else level))
            except AbawError as error:
                rows[level] = None
                problems.append(f"{split}: cannot list the {level}-level rows: {error}")
        splits[split] = {"items": len(ids), "rows": rows}
    problems += reader.check()
    return {"task": task.name, "data_root": str(root), "demo": is_demo_root(root),
            "manifest": {"version": manifest.version, "source": manifest.source, "sha256": manifest.sha256()},
            "splits": splits, "problems": problems, "ok": not problems}


def run(args: argparse.Namespace) -> int:
    report = split_report(args.task, args.data_root)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0 if report["ok"] else 1
    manifest = report["manifest"]
    print(f"task {report['task']}: data root {report['data_root']}" + (" (DEMO data)" if report["demo"] else ""))
    print(f"manifest {manifest['version']} (source: {manifest['source']}) sha256 {manifest['sha256']}")
    print(MANIFEST_SOURCES.get(manifest["source"], "").format(version=manifest["version"]))
    levels = list(next(iter(report["splits"].values()))["rows"]) if report["splits"] else []
    header = ["split", "items", *(f"{level} rows" for level in levels)]
    table = [header] + [[split, str(entry["items"]), *("?" if n is None else str(n) for n in entry["rows"].values())]
                        for split, entry in report["splits"].items()]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.rjust(width) if i else cell.ljust(width) for i, (cell, width) in
                        enumerate(zip(row, widths, strict=True))))
    for problem in report["problems"]:
        print(f"error: {problem}")
    print(f"{len(report['problems'])} problem(s): the data root "
          + ("agrees with the manifest" if report["ok"] else "disagrees with the manifest"))
    return 0 if report["ok"] else 1
