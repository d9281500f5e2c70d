"""`abaw-bench extract`: cache an encoder's per-item features for a task's split(s) (resumable, torchrun-aware)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from abaw_bench.harness.cli._common import (
    Ranged,
    add_command,
    add_data_root_arg,
    add_encoder_loading_args,
    add_json_arg,
    add_task_arg,
    worker_count,
)
from abaw_bench.harness.systems import HYPER_RANGES, Range

EXAMPLES = """\
  abaw-bench extract --task emi --encoder wav2vec2-vad --preset tiny            # demo data, random tiny weights
  abaw-bench extract --task emi --encoder wav2vec2-vad --data-root ~/data/emi --split all --batch-size 16 \\
      --num-workers 2 --skip-bad
  abaw-bench extract --task emi --encoder vit-h14 --data-root ~/data/emi --weights ~/models/vit-h14 --device cuda \\
      --dtype bf16
  abaw-bench extract --task bah --encoder gte-large --data-root ~/data/bah --trust-remote-code --json
  torchrun --nproc_per_node 4 -m abaw_bench.harness extract --task emi --encoder wav2vec2-vad --data-root ~/data/emi \\
      --device cuda                                                            # each rank takes its shard
"""
SUMMARY_ROWS = ("items", "extracted", "cache_hits", "skipped", "seconds", "items_per_second", "padded_fraction",
                "cache_dir")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "extract", help="extract and cache encoder features for a task's items",
        description="Decode each item's media (audio, face crops or transcript), run the encoder in length-bucketed "
                    "batches and cache one feature file per item. Reruns skip cached items; an interrupted run "
                    "continues where it stopped. Under torchrun each rank takes its shard of the batches.",
        examples=EXAMPLES)
    data = parser.add_argument_group("data")
    add_task_arg(data)
    add_data_root_arg(data)
    data.add_argument("--split", default="all", metavar="S", help="train, val, test or all")
    data.add_argument("--skip-bad", action="store_true",
                      help="record corrupt/truncated media in the summary and go on (default: stop at the first)")
    data.add_argument("--max-seconds", type=Ranged(float, HYPER_RANGES["max_seconds"]), default=None, metavar="S",
                      help="decode at most the first S seconds of audio (the encoder's own limit also applies)")
    data.add_argument("--max-frames", type=Ranged(int, HYPER_RANGES["max_frames"]), default=None, metavar="N",
                      help="read at most the first N face crops per item")
    model = parser.add_argument_group("encoder")
    model.add_argument("--encoder", required=True, metavar="E", help="encoder name, e.g. wav2vec2-vad, vit-h14")
    add_encoder_loading_args(model, preset_default="paper", weights_per_encoder=False)
    run = parser.add_argument_group("run")
    run.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (torchrun: each rank its local GPU)")
    run.add_argument("--dtype", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                     help="compute dtype; auto: bf16 on CUDA, fp32 on the CPU (features are stored as float32)")
    run.add_argument("--batch-size", type=Ranged(int, Range(1, 2**16)), default=8, metavar="N",
                     help="clips per forward pass (audio, text, asr)")
    run.add_argument("--images-per-batch", type=Ranged(int, Range(1, 2**20)), default=None, metavar="N",
                     help="face crops per forward pass of an image encoder (default 512), whatever the clips' counts")
    run.add_argument("--num-workers", type=worker_count(), default=None, metavar="K",
                     help="DataLoader workers decoding media while the model runs (0: decode in the main process; "
                          "default: 4-8 per GPU on CUDA, 1 on the CPU)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    add_json_arg(run)
    parser.set_defaults(handler=run_command)


def _splits(task: str, root: Any, split: str) -> list[str]:
    """The splits to extract, after checking the root against its manifest (before any media is decoded)."""
    from abaw_bench.harness.dataroot import check_against_manifest
    from abaw_bench.harness.errors import AbawError
    from abaw_bench.harness.tasks import get_task

    reader = get_task(task).reader(root)
    available = list(reader.manifest().splits)
    check_against_manifest(task, root, reader.check())
    if split == "all":
        return available
    if split not in available:
        raise AbawError(f"--split {split!r}: the {task} dataset has splits {', '.join(available)} (or 'all')")
    return [split]


def _print_summary(summary: dict[str, Any]) -> None:
    head = f"{summary['encoder']} [{summary['preset']}] on {summary['task']}/{summary['split']}"
    print(head)
    for key in SUMMARY_ROWS:
        print(f"  {key:<17} {summary[key]}")
    for item_id, reason in summary["skipped_items"].items():
        print(f"  skipped {item_id}: {reason}")
    notes = []
    if summary["demo_data"]:
        notes.append("DEMO data")
    if summary["random_weights"]:
        notes.append("RANDOM weights")
    if summary.get("transcripts_from"):
        print(f"  transcripts from {summary['transcripts_from']}")
        if "random weights" in summary["transcripts_from"]:
            notes.append("transcripts from a RANDOM-weight asr model")
    if notes:
        print(f"  note: {' and '.join(notes)} — these features say nothing about the real benchmark")


def run_command(args: argparse.Namespace) -> int:
    from abaw_bench.harness.dataroot import resolve_data_root
    from abaw_bench.harness.features import FeatureRequest, ensure_features, finish_distributed

    rank = int(os.environ.get("RANK", "0"))
    root = resolve_data_root(args.task, args.data_root, quiet=rank != 0)
    request = FeatureRequest(
        task=args.task, encoder=args.encoder, preset=args.preset, data_root=root, weights=args.weights,
        trust_remote_code=args.trust_remote_code, download_root=args.download_root, device=args.device,
        dtype=args.dtype, max_seconds=args.max_seconds, max_frames=args.max_frames, batch_size=args.batch_size,
        images_per_batch=args.images_per_batch, num_workers=args.num_workers, skip_bad=args.skip_bad,
        progress=not args.quiet)
    summaries = []
    try:
        for split in _splits(args.task, root, args.split):
            summaries.append(ensure_features(request, split).summary)
    finally:
        finish_distributed()
    if rank == 0:
        if args.json:
            json.dump(summaries, sys.stdout, indent=2)  # one summary per split, always a list
            print()
        else:
            for summary in summaries:
                _print_summary(summary)
    return 0
