"""`abaw-bench compare RUN_A RUN_B`: is run A better than run B on the same validation items, and how sure is that?

A paired bootstrap (numpy only, torch-free like `score`): the same validation units are drawn for both runs in each
resample, so the interval is of the difference itself, not of two independent figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abaw_bench.harness.cli._common import add_bootstrap_args, add_command, add_json_arg
from abaw_bench.harness.errors import AbawError

if TYPE_CHECKING:
    from abaw_bench.harness.results import Results, TaskFacts
    from abaw_bench.leaderboard.bootstrap import Comparison
    from abaw_bench.leaderboard.predictions import Predictions

EXAMPLES = """\
  abaw-bench compare runs/hallmen2025/emi/text/seed0 runs/hallmen2025/emi/vision/seed0
  abaw-bench compare RUN_A RUN_B --resamples 5000 --bootstrap-seed 1 --json
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "compare", help="paired bootstrap difference of two runs on the same validation split",
        description="Compare two runs of 'abaw-bench run' on the same validation split: the difference A − B of "
                    "their validation metric (the task's reference metric, recomputed from each run's "
                    "val_predictions.csv), its 95 % paired bootstrap interval, and the share of resamples in which "
                    "A beats B. Resampled units are the validation clips, or whole videos when the predictions "
                    "carry a group column (frame-level tasks), drawn the same for both runs.",
        examples=EXAMPLES)
    parser.add_argument("run_a", metavar="RUN_A", type=Path, help="run directory (holding results.json and "
                                                                  "val_predictions.csv)")
    parser.add_argument("run_b", metavar="RUN_B", type=Path, help="run directory to compare against")
    add_bootstrap_args(parser, zero_turns_off=False)
    add_json_arg(parser)
    parser.set_defaults(handler=run)


def _run_dir(path: Path) -> Path:
    """A run directory, also when the user names a file inside it."""
    return path.parent if path.is_file() else path


def _load(path: Path, which: str) -> tuple[Results, Predictions]:
    from abaw_bench.harness.results import BadResults, read_results
    from abaw_bench.leaderboard.predictions import read_predictions
    from abaw_bench.leaderboard.runs import PREDICTIONS_NAME, RESULTS_NAME

    directory = _run_dir(path)
    if not directory.is_dir():
        raise AbawError(f"{which} {path}: no such run directory (expected <out>/<system>/<task>/<variant>/seed<N> "
                        "from 'abaw-bench run')")
    try:
        outcome = read_results(directory / RESULTS_NAME)
    except BadResults as error:
        raise AbawError(f"{which}: {error}") from None
    if outcome.metric is None:
        raise AbawError(f"{which} {directory}: a train+val run has no held-out validation to compare on")
    predictions_path = directory / PREDICTIONS_NAME
    if not predictions_path.is_file():
        raise AbawError(f"{which} {directory}: no {PREDICTIONS_NAME} (the per-item validation predictions)")
    return outcome, read_predictions(predictions_path)


def _task_facts(run: Results) -> TaskFacts:
    """The facts results.json records of the run's task; a file written before schema 6 takes the registry's."""
    from abaw_bench.harness.results import TaskFacts
    from abaw_bench.harness.tasks import get_task

    return run.task_facts or TaskFacts.of(get_task(run.task))


def _same_split(a: Results, b: Results, predictions_a: Predictions, predictions_b: Predictions) -> Predictions:
    """B's predictions aligned to A's rows; AbawError when the two runs were not scored on the same items."""
    import numpy as np

    if a.task != b.task:
        raise AbawError(f"RUN_A is a run of task {a.task!r}, RUN_B of task {b.task!r}: nothing to compare")
    if a.manifest_sha256 and b.manifest_sha256 and a.manifest_sha256 != b.manifest_sha256:
        raise AbawError(f"the runs used different split manifests (sha256 {a.manifest_sha256[:12]}… vs "
                        f"{b.manifest_sha256[:12]}…): a paired comparison needs the same validation items")
    ids_a, ids_b = predictions_a.labels.ids, predictions_b.labels.ids
    if set(ids_a) != set(ids_b):
        only = sorted(set(ids_a) ^ set(ids_b))
        raise AbawError(f"{predictions_a.path} and {predictions_b.path} hold different validation items "
                        f"({len(only)} differ, e.g. {only[0][:40]!r})")
    predictions_b = predictions_b.reindex(ids_a)
    if not np.array_equal(predictions_a.labels.values, predictions_b.labels.values):
        raise AbawError(f"{predictions_a.path} and {predictions_b.path} hold different labels for the same items: "
                        "the runs were scored on different data")
    if predictions_a.groups != predictions_b.groups:
        raise AbawError(f"{predictions_a.path} and {predictions_b.path} group the frames into videos differently")
    return predictions_b


def run(args: argparse.Namespace) -> int:
    from abaw_bench.leaderboard import bootstrap

    a, predictions_a = _load(args.run_a, "RUN_A")
    b, predictions_b = _load(args.run_b, "RUN_B")
    predictions_b = _same_split(a, b, predictions_a, predictions_b)
    facts = _task_facts(a)
    units = bootstrap.units_of(predictions_a.groups, len(predictions_a.labels), bootstrap.row_name(facts.unit))
    comparison = bootstrap.paired_difference(
        bootstrap.task_statistic(a.task, predictions_a, a.metric), bootstrap.task_statistic(b.task, predictions_b,
                                                                                            b.metric),
        units, higher_is_better=facts.higher_is_better, resamples=args.resamples, seed=args.bootstrap_seed)
    if args.json:
        print(json.dumps(_to_json(a, b, comparison, facts.higher_is_better), indent=2))
    else:
        print(_text(a, b, comparison, facts.higher_is_better))
    return 0


def _describe(run: Results) -> str:
    marks = f"  [{', '.join(run.marks)}]" if run.marks else ""
    return f"{run.system}/{run.task}/{run.variant} seed {run.seed if run.seed is not None else '?'}{marks}"


def _text(a: Results, b: Results, comparison: Comparison, higher_is_better: bool) -> str:
    spread = comparison.interval
    interval = "undefined" if spread is None else f"[{spread[0]:+.4f}, {spread[1]:+.4f}]"
    better = "higher" if higher_is_better else "lower"
    lines = [f"A  {_describe(a)}: {a.metric} {comparison.value_a:.4f}  ({a.run_dir})",
             f"B  {_describe(b)}: {b.metric} {comparison.value_b:.4f}  ({b.run_dir})",
             f"A − B  {comparison.difference:+.4f}   95 % CI {interval}",
             f"A beats B in {comparison.a_better_share:.1%} of the resamples ({better} {a.metric} is better)",
             f"paired bootstrap over {comparison.units} {comparison.unit_name}, {comparison.resamples} resamples, "
             f"seed {comparison.seed}"]
    if comparison.undefined:
        lines.append(f"{comparison.undefined} resample(s) left out: the metric was undefined on them")
    if a.marks or b.marks:
        lines.append("DEMO / RANDOM runs check the harness; their difference says nothing about the papers' systems")
    return "\n".join(lines)


def _to_json(a: Results, b: Results, comparison: Comparison, higher_is_better: bool) -> dict[str, Any]:
    from abaw_bench.leaderboard.runs import run_summary

    return {
        "a": run_summary(a) | {"value_recomputed": comparison.value_a},
        "b": run_summary(b) | {"value_recomputed": comparison.value_b},
        "metric": a.metric, "higher_is_better": higher_is_better,
        "difference": comparison.difference,
        "ci95": None if comparison.interval is None else list(comparison.interval),
        "a_better_share": comparison.a_better_share,
        "resamples": comparison.resamples, "undefined_resamples": comparison.undefined, "seed": comparison.seed,
        "units": comparison.units, "unit_name": comparison.unit_name,
    }
