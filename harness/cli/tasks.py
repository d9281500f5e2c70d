"""`abaw-bench tasks`: what the harness can benchmark — each task's headline metric, levels and submission format."""

from __future__ import annotations

import argparse
import json

from abaw_bench.harness.cli._common import add_command, add_json_arg

EXAMPLES = """\
  abaw-bench tasks
  abaw-bench tasks --json
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "tasks", help="list the tasks, their metrics and submission formats",
                         description="List every registered task: its title, headline metric (and whether higher "
                                     "is better), submission levels and a summary of its submission format.",
                         examples=EXAMPLES)
    add_json_arg(parser.add_argument_group("output"))
    parser.set_defaults(handler=run)


def describe_tasks() -> list[dict[str, object]]:
    """Each task's registry entry with its submission formats (the specs the validator itself uses)."""
    from abaw_bench.harness.tasks import TASKS

    return [{"name": name, "title": task.title, "headline_metric": task.headline_metric,
             "higher_is_better": task.higher_is_better, "levels": list(task.levels),
             "label_columns": list(task.columns),
             "submission_formats": {fmt.level: {"title": fmt.title, "notes": fmt.notes} for fmt in task.formats}}
            for name, task in TASKS]


def run(args: argparse.Namespace) -> int:
    tasks = describe_tasks()
    if args.json:
        print(json.dumps(tasks, indent=2))
        return 0
    for task in tasks:
        direction = "higher is better" if task["higher_is_better"] else "lower is better"
        print(f"{task['name']}: {task['title']}")
        print(f"  headline metric: {task['headline_metric']} ({direction})")
        print(f"  levels: {', '.join(task['levels'])}; label columns: {', '.join(task['label_columns'])}")
        for level, fmt in task["submission_formats"].items():
            print(f"  submission ({level}): {fmt['title']}: {fmt['notes']}")
    return 0
