"""`abaw-bench systems`: the registered systems, their tasks and variants with the paper-table rows they reproduce.

Reads only the system specs (plain data): it never imports torch.
"""

from __future__ import annotations

import argparse
import json

from abaw_bench.harness.cli._common import add_command, add_json_arg

EXAMPLES = """\
  abaw-bench systems
  abaw-bench systems --json
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "systems", help="list systems, their tasks and variants (table rows)",
                         description="List every registered system (papers and baselines), the tasks it runs on and "
                                     "its variants: the rows of the paper's table each one reproduces, with the "
                                     "paper's figures. The default variant of each task is marked with *.",
                         examples=EXAMPLES)
    add_json_arg(parser)
    parser.set_defaults(handler=run)


def listing() -> list[dict]:
    from abaw_bench.harness.systems import SYSTEMS

    systems = []
    for name, spec in SYSTEMS:
        tasks = {}
        for task in spec.tasks:
            tasks[task] = [
                {"name": variant.name, "row": variant.row, "default": variant.name == spec.default_variant[task],
                 "inputs": list(variant.inputs), "unfrozen": list(variant.unfrozen),
                 "train_splits": list(variant.train_splits), "reuse_best_epoch_of": variant.reuse_best_epoch_of,
                 "paper": dict(variant.paper)}
                for variant in spec.variants[task].values()
            ]
        systems.append({"name": name, "paper": spec.paper, "description": spec.description, "tasks": tasks})
    return systems


def _figures(paper: dict) -> str:
    return "  ".join(f"{split} {value:.3f}" for split, value in paper.items() if value is not None) or "-"


def run(args: argparse.Namespace) -> int:
    systems = listing()
    if args.json:
        print(json.dumps(systems, indent=2))
        return 0
    for system in systems:
        print(f"{system['name']}: {system['description']}")
        print(f"  {system['paper']}")
        for task, variants in system["tasks"].items():
            width = max(len(v["name"]) for v in variants) + 1
            row_width = max(len(v["row"]) for v in variants)
            print(f"  task {task}:")
            for variant in variants:
                mark = "*" if variant["default"] else " "
                print(f"   {mark}{variant['name']:<{width}} {variant['row']:<{row_width}}  paper: "
                      f"{_figures(variant['paper'])}")
        print()
    print("* = default variant.  Run one with: abaw-bench run --system S --task T --variant V")
    return 0
