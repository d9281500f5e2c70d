"""The engine on a synthetic problem: determinism, checkpoint format, SIGKILL + --resume equivalence, torchrun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import synthetic  # noqa: E402


def test_same_seed_gives_identical_metrics_and_different_seed_does_not(tmp_path: Path) -> None:
    first = synthetic.train(tmp_path / "a", epochs=2, seed=3)
    second = synthetic.train(tmp_path / "b", epochs=2, seed=3)
    other = synthetic.train(tmp_path / "c", epochs=2, seed=4)
    assert first["history"] == second["history"]
    assert first["history"] != other["history"]


def test_checkpoints_load_with_weights_only_and_log_has_every_epoch(tmp_path: Path) -> None:
    synthetic.train(tmp_path, epochs=2)
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert last["epoch"] == 2
    assert {"model", "optimizer", "scheduler", "scaler", "rng", "history", "best_epoch"} <= set(last)
    assert set(last["rng"]) == {"python", "numpy", "torch", "cuda"}
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert best["epoch"] == last["best_epoch"]
    rows = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    assert all("train_loss" in row and "value" in row["val"] for row in rows)
    assert not list(tmp_path.glob(".*.tmp"))


def test_rng_state_round_trips(tmp_path: Path) -> None:
    import random

    import numpy as np
    from abaw_bench.harness.train import checkpoint

    checkpoint.save(tmp_path / "rng.pt", {"rng": checkpoint.rng_state()})
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    checkpoint.set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    script = [sys.executable, str(HERE / "synthetic.py")]
    killed = tmp_path / "killed"
    process = subprocess.Popen([*script, str(killed), "--epochs", "3", "--step-delay", "0.05"],
                               stderr=subprocess.DEVNULL)
    log = killed / "train_log.jsonl"
    deadline = time.monotonic() + 60
    while not (log.is_file() and log.read_text().count("\n") >= 1):
        assert process.poll() is None, "the training process ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.15)  # a few steps into epoch 2 (8 steps of >= 0.05 s each)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "summary.json").exists()
    assert torch.load(killed / "last.pt", weights_only=True)["epoch"] == 1
    subprocess.run([*script, str(killed), "--epochs", "3", "--resume"], check=True, stderr=subprocess.DEVNULL)
    resumed = json.loads((killed / "summary.json").read_text())
    uninterrupted = synthetic.train(tmp_path / "straight", epochs=3)
    assert resumed["history"] == uninterrupted["history"]
    assert resumed["best"] == uninterrupted["best"]


def test_early_stopping_stops_and_keeps_the_best_epoch(tmp_path: Path) -> None:
    summary = synthetic.train(tmp_path, epochs=6, patience=1)
    values = [value for _, value in summary["history"]]
    assert len(values) < 6  # the synthetic metric peaks early
    assert summary["best"] == max(values)
    assert summary["best_epoch"] == values.index(max(values)) + 1


@pytest.mark.distributed
def test_torchrun_two_gloo_processes_train_and_rank0_writes(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    str(HERE / "synthetic.py"), str(tmp_path), "--epochs", "2"],
                   check=True, env=env, capture_output=True, timeout=180)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["rank"] == 0
    assert len(summary["history"]) == 2
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 2
