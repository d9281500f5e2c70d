"""`abaw-bench run`: train one system variant on a task and write its run directory (see harness.train.pipeline)."""

from __future__ import annotations

import argparse

from abaw_bench.harness.cli._common import (
    MAX_SEED,
    RUN_PRESET,
    Ranged,
    add_command,
    add_data_root_arg,
    add_encoder_loading_args,
    add_task_arg,
    parse_weights,
    worker_count,
)
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.systems import HYPER_RANGES, Range

MAX_SEEDS = 1000  # runs one `run --seeds` trains, one after the other

EXAMPLES = """\
  abaw-bench run --system hallmen2025 --task emi                      # demo data, tiny encoders, default variant
  abaw-bench run --system hallmen2024 --task emi --variant audio-global --epochs 3
  abaw-bench run --system hallmen2025 --task emi --data-root /data/hume-vidmimic2 --preset paper \\
      --trust-remote-code --weights vit-h14=~/models/vit-huge --device cuda   # others: HF cache, fetched if missing
  abaw-bench run --system hallmen2024 --task emi --variant audio-global --resume     # continue a killed run
  abaw-bench run --system hallmen2024 --task emi --variant audio-global --overwrite  # replace the finished run
  abaw-bench run --system hallmen2024 --task emi --variant audio-global --seeds 3    # seeds 0, 1, 2: a spread
  abaw-bench run --system baseline --task va --data-root /data/affwild2 --preset paper --skip-bad  # corrupt media
  torchrun --nproc_per_node 4 -m abaw_bench.harness run --system hallmen2025 --task emi --device cuda
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "run", help="train and evaluate a system variant; writes results, predictions, a submission",
        description="Train one system variant (a row of its paper's table) on a task, validate it each epoch, keep "
                    "the best checkpoint, predict the test split and write a submission checked by the validator. "
                    "Without --data-root it runs on the embedded demo dataset and says so, with the system's demo "
                    "schedule (fewer epochs, windows sized to the demo's seconds-long videos; the run lists the "
                    "fields, and --epochs/--lr/--batch-size/--hyper override them); a real --data-root always gets "
                    "the paper's schedule. The run directory is "
                    "<out>/<system>/<task>/<variant>/seed<N>: config.json, results.json, val_predictions.csv, "
                    "submission_test.csv, train_log.jsonl, best.pt, last.pt; while the run is on, run.lock "
                    "(one run per directory). A directory that already holds a run is refused unless --resume or "
                    "--overwrite says what to do with it. Before anything is decoded the data root is checked "
                    "against its split manifest (as `abaw-bench splits` does): missing or extra items and a video or "
                    "participant in two splits stop the run.",
        examples=EXAMPLES)
    what = parser.add_argument_group("what to run")
    what.add_argument("--system", required=True, metavar="S", help="system name (see `abaw-bench systems`)")
    add_task_arg(what)
    what.add_argument("--variant", default=None, metavar="V", help="variant (table row); default: the system's")
    add_data_root_arg(what)
    what.add_argument("--skip-bad", action="store_true",
                      help="an item whose media give no features (corrupt or truncated) is left out instead of "
                           "stopping the run: dropped from train and val, and its test rows get the constant floor "
                           "fitted on the training labels (label means / majority class); the log and results.json "
                           "list such items. Covers the inputs served from the feature cache (frozen encoders, asr "
                           "transcripts), as `extract --skip-bad` does; part of the run's identity for --resume")
    add_encoder_loading_args(parser.add_argument_group("encoders"), preset_default=RUN_PRESET,
                             weights_per_encoder=True)
    training = parser.add_argument_group("training (defaults: the paper's values; on the demo, the demo schedule's)")
    training.add_argument("--epochs", type=Ranged(int, Range(1, HYPER_RANGES["epochs"].high)), default=None,
                          metavar="N")
    training.add_argument("--batch-size", type=Ranged(int, HYPER_RANGES["batch_size"]), default=None, metavar="N",
                          help="global batch size; under torchrun each rank takes an equal share (N must be a "
                               "multiple of the number of ranks), so the paper's batch and lr hold on any world size")
    training.add_argument("--lr", type=Ranged(float, HYPER_RANGES["lr"]), default=None, metavar="X")
    training.add_argument("--seed", type=Ranged(int, Range(0, MAX_SEED)), default=0, metavar="N")
    training.add_argument("--seeds", type=Ranged(int, Range(1, MAX_SEEDS)), default=1, metavar="N",
                          help="train N runs, seeds --seed to --seed+N-1, one run directory each (for the spread "
                               "'abaw-bench leaderboard --runs' reports)")
    training.add_argument("--hyper", action="append", default=[], metavar="KEY=VALUE",
                          help="override a model knob of the system or an engine knob (repeatable; VALUE is JSON, "
                               "else a string), e.g. --hyper dropout=0.2 --hyper frame_step=8; `abaw-bench info` "
                               "lists both kinds")
    training.add_argument("--device", default="cpu", metavar="cpu|cuda", help="cpu, cuda or cuda:N")
    training.add_argument("--num-workers", type=worker_count(), default=None, metavar="K",
                          help="DataLoader worker processes per rank (0: load in the main process; default: 4-8 per "
                               "GPU on CUDA, as many as the cores and /dev/shm allow, as for extract; 0 on the CPU)")
    training.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=None,
                          help="cuDNN deterministic kernels (recorded in results.json); default: on for the CPU, "
                               "where it costs nothing, off on CUDA, where the fast kernels make runs differ in the "
                               "last bits")
    training.add_argument("--resume", action="store_true", help="continue from the run directory's last checkpoint")
    training.add_argument("--overwrite", action="store_true",
                          help="replace the run already in the run directory: the new run is written beside it and "
                               "takes its place only when it has finished (a failed or interrupted run leaves the "
                               "old one as it was); without --resume or --overwrite such a directory is refused")
    output = parser.add_argument_group("output")
    output.add_argument("--out", default="runs", metavar="DIR", help="root of the run directories")
    output.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    parser.set_defaults(handler=run)


def parse_hyper(pairs: list[str]) -> dict[str, object]:
    """--hyper KEY=VALUE pairs; VALUE is read as JSON (numbers, true/false, null, lists, objects), else a string."""
    from abaw_bench.harness.jsonio import BadJson, NotJson, loads

    overrides: dict[str, object] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise AbawError(f"--hyper {pair[:80]!r}: expected KEY=VALUE, e.g. frame_step=8")
        try:
            value = loads(text)
        except NotJson:
            value = text  # a string
        except BadJson as error:  # JSON, but out of bounds (1e400, NaN, 10^4300, deep nesting)
            raise AbawError(f"--hyper {key.strip()}: {error.reason}") from None
        overrides[key.strip()] = tuple(value) if isinstance(value, list) else value
    return overrides


def run(args: argparse.Namespace) -> int:
    if args.seed + args.seeds - 1 > MAX_SEED:
        raise AbawError(f"--seed {args.seed} --seeds {args.seeds}: the last seed {args.seed + args.seeds - 1} is "
                        f"past {MAX_SEED}, the largest seed (numpy's are 32-bit)")
    if args.resume and args.overwrite:
        raise AbawError("--resume and --overwrite exclude each other: continue the run in the directory, or replace it")
    if not (args.device == "cpu" or args.device.startswith("cuda")):
        raise AbawError(f"--device {args.device!r}: expected cpu, cuda or cuda:N")
    from abaw_bench.harness.runtime import distributed
    from abaw_bench.harness.train.config import RunConfig
    from abaw_bench.harness.train.pipeline import run as run_pipeline

    try:  # under torchrun every seed's run shares one process group, left once at the end
        for seed in range(args.seed, args.seed + args.seeds):
            config = RunConfig(system=args.system, task=args.task, variant=args.variant or "", preset=args.preset,
                               data_root=args.data_root, out_root=args.out, seed=seed, device=args.device,
                               num_workers=args.num_workers, deterministic=args.deterministic, resume=args.resume,
                               overwrite=args.overwrite, skip_bad=args.skip_bad,
                               epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                               weights=parse_weights(args.weights), trust_remote_code=args.trust_remote_code,
                               download_root=args.download_root, hyper_overrides=parse_hyper(args.hyper),
                               progress=not args.quiet)
            outcome = run_pipeline(config)
            if outcome.is_main:
                print(summary_table(outcome.results, outcome.run_dir), flush=True)
    finally:
        distributed.finish()
    return 0


def summary_table(results: dict, run_dir: object) -> str:
    """A few lines a person reads at the end of a run: metric, value, the paper's figure, demo or real data."""
    data = "DEMO data" if results["data"]["demo"] else f"real data ({results['data']['root']})"
    random_inputs = [name for name, info in results["encoders"].items() if info.get("random_weights")]
    weights = f"; RANDOM-weight encoders: {', '.join(random_inputs)}" if random_inputs else ""
    paper = results["paper"].get("val")
    rows = [("system / variant", f"{results['system']} / {results['variant']}  ({results['row']})"),
            ("data", f"{data}, preset {results['preset']}{weights}")]
    metric = results["val"]
    if metric is None:
        rows.append(("validation", f"none: trained on train+val for {results['epochs_run']} epochs "
                                    f"({results['epochs_source']})"))
    else:
        rows.append((f"val {metric['metric']}", f"{metric['value']:.4f}   (paper: "
                     f"{'n/a' if paper is None else f'{paper:.3f}'}; best epoch {results['best_epoch']})"))
        rows += [(f"  {column}", f"{value:.4f}") for column, value in metric["breakdown"].items()]
    submission = results["submission"]
    paper_test = results["paper"].get("test")
    rows.append(("test submission", f"{submission['path']} ({submission['rows']} rows, "
                                    f"{'valid' if submission['valid'] else 'INVALID'}; not scored here — test labels "
                                    f"are the organisers'; paper test: "
                                    f"{'n/a' if paper_test is None else f'{paper_test:.3f}'})"))
    skipped = results.get("skipped", {}).get("splits", {})
    if skipped:
        counts = ", ".join(f"{split} {entry['count']}" for split, entry in skipped.items())
        test_note = "; test rows: the training-label constant, see results.json" if "test" in skipped else ""
        rows.append(("skipped items", f"{counts} (media gave no features; --skip-bad){test_note}"))
    rows.append(("wall time", f"{results['provenance']['wall_time_seconds']:.1f} s"))
    rows.append(("run directory", str(run_dir)))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)
