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


def test_bah_epochs_are_selected_at_their_swept_threshold() -> None:
    """An epoch whose probabilities separate the classes only below 0.5 is the better epoch once its threshold is swept
    on validation (the authors' selection), though at 0.5 it predicts no positive at all."""
    from abaw_bench.harness.tasks import get_task
    from abaw_bench.harness.tasks.base import Table
    from abaw_bench.harness.train.datasets import SplitData
    from abaw_bench.harness.train.pipeline import selection_metric

    task = get_task("bah")
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 0])
    ids = [f"v.mp4/frame-{index:05d}.jpg" for index in range(len(labels))]
    val = SplitData(None, ids, Table(ids, labels[:, None].astype(np.float64), ("label",)))
    separated_low = np.where(labels == 1, 0.45, 0.42)[:, None]
    noisy_high = np.array([0.2, 0.2, 0.7, 0.2, 0.8, 0.8, 0.3, 0.2])[:, None]
    hyper = get_system("hallmen2025").hyper["bah"]
    swept = [selection_metric(task, hyper, val, outputs) for outputs in (separated_low, noisy_high)]
    assert swept[0].value == pytest.approx(1.0) and 0.42 < swept[0].extra["threshold"] <= 0.45
    assert swept[0].value > swept[1].value
    at_half = [selection_metric(task, hyper.replace(threshold_sweep=None), val, outputs)
               for outputs in (separated_low, noisy_high)]
    assert at_half[0].value < at_half[1].value and "threshold" not in at_half[0].extra
