"""A NaN input feature ends training with a message naming the input, the item and the split; a genuine divergence
keeps its advice to lower the learning rate."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.runtime.distributed import setup
from abaw_bench.harness.systems import Hyper
from abaw_bench.harness.train.data import Collate, ItemDataset
from abaw_bench.harness.train.engine import FitSettings, TrainableModel, Trainer, seed_everything

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import synthetic  # noqa: E402


def _fit(run_dir: Path, *, nan_item: str | None = None, diverged: bool = False) -> None:
    seed_everything(0)
    ids, source, targets = synthetic.make_split(16, 1)
    if nan_item is not None:
        source.arrays[nan_item] = source.arrays[nan_item].copy()
        source.arrays[nan_item][-1, 0] = np.nan
    dataset = ItemDataset(ids, {"x": source}, targets=targets)
    head = synthetic.TinyHead(dropout=0.0)
    if diverged:  # weights as a run whose lr was too high leaves them: finite inputs, an output whose square is inf
        with torch.no_grad():
            head.out.weight.fill_(1e30)
    settings = FitSettings(Hyper(epochs=1, batch_size=4), rank_batch_size=4, seed=0, progress=False)
    trainer = Trainer(TrainableModel(head), settings, setup("cpu"), run_dir)
    trainer.fit(dataset, Collate({"x": synthetic.DIM}), None, None)


def test_a_nan_feature_is_named_not_called_a_divergence(tmp_path: Path) -> None:
    with pytest.raises(AbawError) as raised:
        _fit(tmp_path, nan_item="1-0005")
    message = str(raised.value)
    assert "input 'x' of item '1-0005' (train split) holds NaN or inf" in message
    assert "diverged" not in message


def test_a_genuine_divergence_keeps_its_message(tmp_path: Path) -> None:
    with pytest.raises(AbawError, match=r"\(diverged\); try a lower --lr"):
        _fit(tmp_path, diverged=True)


def test_windows_name_the_video_whose_feature_holds_inf() -> None:
    from abaw_bench.harness.train.data import non_finite_input

    dataset, _ = synthetic.make_frame_split(3, 2, training=False)
    assert non_finite_input(dataset, "val") is None
    source = dataset.features["x"]
    source.arrays["v2-1"][0, 2] = np.inf
    assert "input 'x' of item 'v2-1' (val split) holds NaN or inf" in non_finite_input(dataset, "val")
