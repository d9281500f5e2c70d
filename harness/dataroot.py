"""The dataset root a command reads: the user's `--data-root`, checked, or the embedded demo dataset.

A demo root names its dataset in its marker file; a root holding another task's demo is refused here, so that no
command judges a file against, or trains on, the wrong dataset.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from abaw_bench.harness.demo import ensure_demo
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.paths import DEMO_MARKER, demo_marker
from abaw_bench.harness.tasks import TASKS, get_task


def _shown(path: Path) -> str:
    text = str(path)
    return text if text.isprintable() else repr(text)[1:-1]


def check_demo_dataset(task: str, root: Path) -> None:
    """AbawError when `root` is a demo root of a dataset that `task` does not read."""
    try:
        marker = demo_marker(root)
    except ValueError as error:
        raise AbawError(f"--data-root {_shown(root)}: its demo marker {DEMO_MARKER} cannot be read ({error}); expected "
                        "a JSON object whose 'dataset' field names the demo's dataset") from None
    if marker is None:
        return
    expected, found = get_task(task).dataset, marker.get("dataset")
    if found == expected:
        return
    named = repr(str(found)[:60])
    tasks = ", ".join(name for name, other in TASKS if other.dataset == found)
    holder = f"the demo dataset of task(s) {tasks}" if tasks else "a demo dataset of no task"
    raise AbawError(f"--data-root {_shown(root)}: holds {holder} ({DEMO_MARKER} names dataset {named}), not the "
                    f"{expected} dataset that task {task!r} reads. Point --data-root at the {task} dataset, or omit "
                    f"it to use the {task} demo.")


def resolve_data_root(task: str, data_root: str | os.PathLike[str] | None, *, quiet: bool = False) -> Path:
    """The dataset root to use: the user's, checked to exist (and, for a demo root, to be the task's dataset), or the
    demo dataset, generated once into the cache.

    When falling back to the demo, a notice goes to stderr so that no figure is mistaken for a real-data result.
    """
    if data_root is not None:
        root = Path(data_root).expanduser()
        if not root.is_dir():
            raise AbawError(f"--data-root {_shown(root)}: no such directory (expected the {task} dataset's root "
                            "folder)")
        check_demo_dataset(task, root)
        return root
    root = ensure_demo(task)
    if not quiet:
        print(f"[abaw-bench] no --data-root given: using the embedded DEMO dataset for {task!r} at {root}. "
              "Results on it say nothing about the real benchmark.", file=sys.stderr)
    return root


MAX_PROBLEMS_SHOWN = 20


def check_against_manifest(task: str, root: Path, problems: list[str]) -> None:
    """AbawError listing the root's disagreements with its split manifest (`reader.check()`: missing or extra items,
    a video or participant in two splits), so that `run` and `extract` stop before they decode, transcribe or train
    on anything (the same check `abaw-bench splits` reports)."""
    if not problems:
        return
    shown = "\n".join(f"  - {problem}" for problem in problems[:MAX_PROBLEMS_SHOWN])
    more = f"\n  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more" if len(problems) > MAX_PROBLEMS_SHOWN else ""
    raise AbawError(f"the data root {_shown(root)} disagrees with the {task} split manifest ({len(problems)} "
                    f"problem(s)); stopped before decoding anything:\n{shown}{more}\n"
                    f"(`abaw-bench splits --task {task} --data-root {_shown(root)}` shows the whole report)")
