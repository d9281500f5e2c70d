"""Pieces of the run pipeline that need no training: epoch reuse for train+val rows, padding, label shuffling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.systems import get_system
from abaw_bench.harness.train.config import RunConfig
from abaw_bench.harness.train.data import pad_sequences, shuffled_targets
from abaw_bench.harness.train.pipeline import reused_epochs


def _config(out: Path, **changes) -> RunConfig:
    base = {"system": "hallmen2025", "task": "emi", "variant": "trainval-text-vision", "preset": "tiny",
            "data_root": None, "out_root": str(out), "seed": 3}
    return RunConfig(**(base | changes))


def test_trainval_reads_the_best_epoch_of_its_train_only_run(tmp_path: Path) -> None:
    variant = get_system("hallmen2025").variant("emi", "trainval-text-vision")
    source = _config(tmp_path, variant=variant.reuse_best_epoch_of).run_dir() / "results.json"
    source.parent.mkdir(parents=True)
    source.write_text(json.dumps({"best_epoch": 7, "config": {"preset": "tiny"}}))
    epochs, origin = reused_epochs(_config(tmp_path), variant)
    assert epochs == 7 and "text-vision" in origin
    assert reused_epochs(_config(tmp_path, epochs=4), variant)[0] == 4
    with pytest.raises(AbawError, match="preset"):
        reused_epochs(_config(tmp_path, preset="paper"), variant)
    with pytest.raises(AbawError, match="--epochs"):
        reused_epochs(_config(tmp_path, seed=4), variant)  # another seed has no train-only run yet


def test_pad_sequences_pads_with_zeros_and_keeps_lengths() -> None:
    padded, lengths = pad_sequences([np.ones((3, 2), np.float32), np.zeros((0, 2), np.float32),
                                     np.full((1, 2), 2, np.float32)])
    assert padded.shape == (3, 3, 2)
    assert lengths.tolist() == [3, 1, 1]  # an empty item becomes one zero row
    assert padded[0].sum() == 6 and padded[1].abs().sum() == 0 and padded[2, 0].tolist() == [2, 2]
    assert padded[2, 1:].abs().sum() == 0


def test_shuffled_targets_permute_rows_deterministically() -> None:
    targets = np.arange(40, dtype=np.float32).reshape(20, 2)
    shuffled = shuffled_targets(targets, seed=1)
    assert sorted(map(tuple, shuffled.tolist())) == sorted(map(tuple, targets.tolist()))
    assert not np.array_equal(shuffled, targets)
    assert np.array_equal(shuffled, shuffled_targets(targets, seed=1))
