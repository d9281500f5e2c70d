"""Subprocess helper for test_torchrun_ranks.py (not collected by pytest); run under torchrun with 2 gloo ranks.

1. Like `run` does: join the process group, then call `ensure_features` on EVERY rank with an empty cache (tiny
   vit-h14, EMI demo val split). Each rank reports the store it got back.
2. DistributedDataParallel fine-tuning of a trainable tiny wav2vec2-vad with an LSTM head for 8 steps (with the
   encoder's layerdrop of 0.1 some rank would skip a layer within a few steps and DDP would stop).
3. hallmen2025's centred text windows (real MiniLM, BAH demo) built on every rank: the ranks split the shards to
   encode and read each other's from the cache.
Each rank writes its report to OUT/rank<N>.json (two ranks printing to one pipe can interleave their lines).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import torch
from abaw_bench.harness.atomic import write_json
from abaw_bench.harness.encoders import _audio, load_encoder
from abaw_bench.harness.features import FeatureRequest, ensure_features, text_windows
from abaw_bench.harness.runtime import distributed
from abaw_bench.harness.systems import DATASET_TRANSCRIPT
from abaw_bench.harness.tasks import get_task
from abaw_bench.systems._heads import LastValidLSTM
from torch.nn.parallel import DistributedDataParallel


class FineTune(torch.nn.Module):
    def __init__(self, encoder) -> None:
        super().__init__()
        self.encoder = encoder.model
        self.lstm = LastValidLSTM(encoder.output_dim, 16, 1)
        self.out = torch.nn.Linear(16, 6)

    def forward(self, values: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        frames = self.encoder(values, attention_mask=mask)
        return self.out(self.lstm(frames, self.encoder.frame_lengths(lengths)))


def fine_tune(context: distributed.DistContext) -> tuple[list[float], str]:
    """The losses of 8 steps and a digest of the weights after them (equal on every rank when DDP averaged)."""
    torch.manual_seed(0)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    model = DistributedDataParallel(FineTune(load_encoder("wav2vec2-vad", "tiny", trainable=True)).train())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(context.rank)  # each rank its own data, as a DistributedSampler gives it
    losses = []
    for _ in range(8):
        waves = [torch.from_numpy((0.1 * rng.standard_normal(int(16000 * s))).astype(np.float32))
                 for s in rng.uniform(0.5, 1.5, 2)]
        batch = _audio.pad_batch(waves)
        output = model(batch["input_values"], batch["attention_mask"], batch["lengths"])
        loss = torch.nn.functional.mse_loss(output, torch.full_like(output, 0.5))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    weights = hashlib.sha256()
    for tensor in model.module.state_dict().values():
        weights.update(tensor.detach().contiguous().numpy().tobytes())
    return losses, weights.hexdigest()


def windows(bah: Path) -> dict:
    """Text windows of every 4th frame of two BAH demo videos, 8 windows per shard so that both ranks encode."""
    text_windows.SHARD_WINDOWS = 8
    items = get_task("bah").reader(bah).items("val")[:2]
    frames = {item.id: range(0, 100, 4) for item in items}
    built = text_windows.build_text_windows(FeatureRequest("bah", "minilm", "tiny", bah, progress=False), items,
                                            DATASET_TRANSCRIPT, 25.0, 2.0, frames)
    return {"stats": built.stats, "vectors": built.vectors.tolist(), "texts": built.texts}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--bah", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    context = distributed.setup("cpu")
    try:
        store = ensure_features(FeatureRequest("emi", "vit-h14", "tiny", args.data, images_per_batch=64, num_workers=0,
                                               progress=False), "val")
        digest = hashlib.sha256()
        for item_id in store.ids:
            digest.update(store.path(item_id).read_bytes())
        losses, weights = fine_tune(context)
        write_json(args.out / f"rank{context.rank}.json",
                   {"rank": context.rank, "world_size": context.world_size, "summary": store.summary, "ids": store.ids,
                    "directory": str(store.directory), "digest": digest.hexdigest(), "losses": losses,
                    "weights": weights, "windows": windows(args.bah)})
    finally:
        distributed.teardown(context)


if __name__ == "__main__":
    main()
