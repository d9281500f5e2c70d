"""Subprocess helper for the resume and torchrun tests (not collected by pytest).

Extracts tiny wav2vec2-vad features of every .wav in --data (one item per file, sorted) into $ABAW_BENCH_CACHE and
prints the summary as JSON on rank 0. `--sleep` slows each batch down so that a test can kill the run mid-way.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from abaw_bench.harness.encoders import load_encoder
from abaw_bench.harness.features import FeatureRequest, extract_items, finish_distributed
from abaw_bench.harness.tasks.base import Item


def wav_items(root: Path) -> list[Item]:
    return [Item(path.stem, "train", {"audio": path}) for path in sorted(root.glob("*.wav"))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=3)
    parser.add_argument("--sleep", type=float, default=0.0)
    args = parser.parse_args()
    encoder = load_encoder("wav2vec2-vad", "tiny")
    if args.sleep:
        forward = encoder.forward

        def slow_forward(batch):
            time.sleep(args.sleep)
            return forward(batch)

        encoder.forward = slow_forward
    request = FeatureRequest.for_encoder(encoder, "synthetic", args.data, batch_size=args.batch_size, num_workers=0,
                                         progress=False)
    store = extract_items(encoder, request, wav_items(args.data), "train")
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(store.summary), flush=True)
    finish_distributed()


if __name__ == "__main__":
    main()
