"""No per-step host syncs: the training step, prediction and the LSTM head never read device values on the host.

The meta device stands in for a GPU: `DeviceReads` counts every read of a meta tensor's values by the host (`item`,
`tolist`, `numpy`, `bool`, `int`, `float`, `cpu`, a blocking `.to("cpu")`), which on CUDA would wait for the
device, and answers it with zeros so that the code runs on. An asynchronous (non_blocking) copy to the host is not a
read. A per-step sync shows as a count that grows with the number of batches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from abaw_bench.harness.runtime.distributed import DistContext
from abaw_bench.harness.systems import Hyper
from abaw_bench.harness.train import engine
from abaw_bench.harness.train.data import Collate, ItemDataset
from abaw_bench.systems._heads import Branch, BranchFusionRegressor, LastValidLSTM
from torch.overrides import TorchFunctionMode

META = DistContext(0, 1, 0, torch.device("meta"))
READS = {torch.Tensor.item: 0.0, torch.Tensor.__bool__: False, torch.Tensor.__int__: 0, torch.Tensor.__float__: 0.0,
         torch.Tensor.__index__: 0}


class DeviceReads(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tensor = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if tensor is None or tensor.device.type != "meta":
            return func(*args, **kwargs)
        if func in READS:
            self.count += 1
            return READS[func]
        if func in (torch.Tensor.tolist, torch.Tensor.numpy, torch.Tensor.cpu):
            self.count += 1
            zeros = torch.zeros(tensor.shape, dtype=tensor.dtype)
            return zeros if func is torch.Tensor.cpu else (zeros.tolist() if func is torch.Tensor.tolist
                                                           else zeros.numpy())
        if func is torch.Tensor.to and any(str(a) == "cpu" for a in (*args[1:], kwargs.get("device"))):
            if not kwargs.get("non_blocking", False):
                self.count += 1
            dtype = next((a for a in args[1:] if isinstance(a, torch.dtype)), kwargs.get("dtype", tensor.dtype))
            return torch.zeros(tensor.shape, dtype=dtype)
        return func(*args, **kwargs)


def test_the_lstm_head_reads_no_length_on_the_host() -> None:
    """Packing needs the lengths on the host (a sync per step on a GPU); the gather of the last valid step does not."""
    head = LastValidLSTM(5, 4, num_layers=2).to("meta")
    padded = torch.randn(3, 7, 5, device="meta", requires_grad=True)
    with DeviceReads() as reads:
        last = head(padded, torch.tensor([7, 2, 0], device="meta"))
        last.sum().backward()
    assert reads.count == 0 and last.shape == (3, 4)


def _dataset(items: int) -> ItemDataset:
    rng = np.random.default_rng(0)
    rows = {f"i{k}": rng.standard_normal((int(rng.integers(2, 6)), 3)).astype(np.float32) for k in range(items)}

    class Source:
        dim = 3

        def get(self, item_id: str) -> np.ndarray:
            return rows[item_id]

    return ItemDataset(list(rows), {"x": Source()}, targets=rng.standard_normal((items, 2)).astype(np.float32))


def _trainer(tmp_path: Path) -> engine.Trainer:
    head = BranchFusionRegressor([Branch("x", "mean+lstm", lstm_hidden=4)], {"x": 3}, fusion_hidden=4, outputs=2)
    settings = engine.FitSettings(Hyper(epochs=1, batch_size=2, lr=1e-3, grad_clip_norm=1.0), rank_batch_size=2,
                                  progress=False)
    return engine.Trainer(engine.TrainableModel(head), settings, META, tmp_path)


@pytest.mark.parametrize("batches", [1, 3])
def test_prediction_reads_nothing_on_the_host_before_its_one_wait(tmp_path: Path, batches: int,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = _trainer(tmp_path)
    reads = DeviceReads()
    waits: list[int] = []
    monkeypatch.setattr(engine, "wait_for_host_copies", lambda device: waits.append(reads.count))
    with reads:
        outputs = trainer.predict(_dataset(2 * batches), Collate({"x": 3}))
    assert waits == [0] and outputs.shape == (2 * batches, 2)


def test_a_training_epoch_reads_the_device_only_at_its_end(tmp_path: Path) -> None:
    """The same host reads (the epoch's loss and counters) for 1 and for 3 steps: none per step."""
    counts = []
    for batches in (1, 3):
        trainer = _trainer(tmp_path)
        loader, _ = engine.make_loader(_dataset(2 * batches), Collate({"x": 3}), 2, shuffle=True, seed=0,
                                       context=META, num_workers=0)
        scheduler = torch.optim.lr_scheduler.LambdaLR(trainer.optimizer, lambda step: 1.0)
        with DeviceReads() as reads:
            trainer._train_epoch(loader, scheduler, 1, None)
        counts.append(reads.count)
    assert counts[0] == counts[1] <= 2, counts


def test_a_wav2vec2_fine_tuning_step_reads_nothing_on_the_host() -> None:
    """Forward and backward of the tiny wav2vec2-vad + head in training mode on windows of unequal length (an edge
    window is shorter), SpecAugment's time mask on: no device value is read. transformers' own code reads the device
    mask to draw SpecAugment's mask, writes it by boolean indexing (a `nonzero`) and asks whether the padding mask is
    all ones."""
    from abaw_bench.harness.encoders import load_encoder

    encoder = load_encoder("wav2vec2-vad", "tiny", trainable=True, max_seconds=2.0)
    assert encoder.model.config.mask_time_prob > 0
    head = BranchFusionRegressor([Branch("audio", "lstm", None)], {"audio": encoder.output_dim}, fusion_hidden=4,
                                 outputs=1)
    model = engine.TrainableModel(head, {"audio": encoder}).to("meta").train()
    encoder.device = "meta"
    batch = encoder.collate([encoder.prepare(torch.randn(n)) for n in (4_000, 3_000, 4_000)])  # 12 and 9 frames
    with DeviceReads() as reads:
        model({}, {"audio": batch}).sum().backward()
    assert reads.count == 0
