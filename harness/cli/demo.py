"""`abaw-bench demo`: write a task's small synthetic dataset (official layout, planted signal) into a folder."""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from abaw_bench.harness.cli._common import MAX_SEED, Ranged, add_command, add_task_arg, spoken_list
from abaw_bench.harness.systems import Range

EXAMPLES = """\
  abaw-bench demo --task bah --out demo-bah
  abaw-bench demo --task va --out demo-affwild2 --seed 3
  abaw-bench demo --task emi --out demo-emi --force
"""


def shared_demos() -> str:
    """" va and expr share the affwild2 demo." for each dataset that several registered tasks read."""
    from abaw_bench.harness.tasks import TASKS

    readers: dict[str, list[str]] = {}
    for name, task in TASKS:
        readers.setdefault(task.dataset, []).append(name)
    return "".join(f" {spoken_list(names, 'and')} share the {dataset} demo."
                   for dataset, names in readers.items() if len(names) > 1)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "demo", help="write a task's demo dataset (synthetic, official layout)",
                         description="Write the embedded demo dataset of a task into DIR: a few videos or clips in "
                                     "the task's official layout with label files and a planted signal. The same "
                                     f"seed always writes the same bytes.{shared_demos()} The dataset is built in "
                                     "a temporary folder beside DIR and moved into place, so an interrupted run "
                                     "leaves nothing half-written.",
                         examples=EXAMPLES)
    what = parser.add_argument_group("what to write")
    add_task_arg(what)
    what.add_argument("--out", required=True, metavar="DIR", help="destination folder (absent or empty)")
    what.add_argument("--seed", type=Ranged(int, Range(0, MAX_SEED)), default=0, metavar="N",
                      help="seed of labels, text, sound and pixels")
    what.add_argument("--force", action="store_true",
                      help="write into a non-empty DIR, replacing the demo's top-level entries there "
                           "(other files in DIR are left alone)")
    parser.set_defaults(handler=run)


def install(staging: Path, out: Path) -> None:
    """Move the staged dataset to `out`: a rename when `out` is absent or empty, else entry by entry."""
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    if not out.exists():
        staging.rename(out)
        return
    for entry in sorted(staging.iterdir()):
        target = out / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        entry.rename(target)
    staging.rmdir()


def run(args: argparse.Namespace) -> int:
    from abaw_bench.harness.demo import generate
    from abaw_bench.harness.errors import AbawError
    from abaw_bench.harness.paths import DEMO_MARKER
    from abaw_bench.harness.tasks import get_task

    dataset = get_task(args.task).dataset
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise AbawError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise AbawError(f"--out {out}: folder is not empty; choose another or pass --force to write into it")
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        generate(args.task, staging, args.seed)
        install(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    seconds = time.perf_counter() - started
    files = [path for path in out.rglob("*") if path.is_file()]
    size = sum(path.stat().st_size for path in files)
    print(f"wrote the {dataset} demo dataset (task {args.task}, seed {args.seed}) to {out} in {seconds:.1f} s: "
          f"{len(files)} files, {size / 1e6:.1f} MB")
    for entry in sorted(out.iterdir()):
        if entry.is_dir():
            print(f"  {entry.name}/  {sum(1 for path in entry.rglob('*') if path.is_file())} files")
        else:
            print(f"  {entry.name}")
    print(f"DEMO data: synthetic, for trying the harness; it says nothing about the real benchmark "
          f"(details in {out / DEMO_MARKER})")
    return 0
