"""The engine on a synthetic problem: determinism, checkpoint format, SIGKILL + --resume equivalence, torchrun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
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
    assert len(last["rng"]) == 1 and set(last["rng"][0]) == {"python", "numpy", "torch", "cuda"}  # one per rank
    assert last["precision"] == "fp32"
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


@pytest.mark.parametrize("mode", ["clip", "frames"])
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path: Path, mode: str) -> None:
    script = [sys.executable, str(HERE / "synthetic.py"), "--mode", mode]
    killed = tmp_path / "killed"
    # Each training step sleeps 0.3 s, so an epoch lasts >= 0.9 s (frames: 3 steps; clip: >= 5): the kill, 0.15 s
    # after epoch 1's log line (written after last.pt), lands inside epoch 2 with >= 0.75 s to spare, or inside
    # epoch 3 when a loaded host (parallel test workers) delays this process by more; either is a mid-epoch kill.
    process = subprocess.Popen([*script, str(killed), "--epochs", "3", "--step-delay", "0.3"],
                               stderr=subprocess.DEVNULL)
    log = killed / "train_log.jsonl"
    hang_guard = time.monotonic() + 900  # only against a hung child: the loop waits on the log, not on a time
    while not (log.is_file() and log.read_text().count("\n") >= 1):
        assert process.poll() is None, "the training process ended before its first checkpoint"
        if time.monotonic() > hang_guard:
            process.kill()
            pytest.fail("the training process wrote no checkpoint in 15 minutes (hung?)")
        time.sleep(0.05)
    time.sleep(0.15)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "summary.json").exists()
    assert torch.load(killed / "last.pt", weights_only=True)["epoch"] in (1, 2)
    subprocess.run([*script, str(killed), "--epochs", "3", "--resume"], check=True, stderr=subprocess.DEVNULL)
    resumed = json.loads((killed / "summary.json").read_text())
    # The reference runs in a fresh process too: a float sum's order depends on process-wide torch state (threads,
    # kernels) that other tests in this worker may have set, and the test is about resuming, not about that state.
    straight = tmp_path / "straight"
    subprocess.run([*script, str(straight), "--epochs", "3"], check=True, stderr=subprocess.DEVNULL)
    uninterrupted = json.loads((straight / "summary.json").read_text())
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


def test_encoders_frozen_from_their_epoch_on_keep_the_weights_earlier_epochs_gave_them(tmp_path: Path) -> None:
    """Frozen from epoch 2 of 2: the encoder ends with exactly the weights epoch 1 alone gives it (on the same 2-epoch
    schedule), which moved it, while the head goes on learning in epoch 2."""
    frozen = synthetic.train(tmp_path / "frozen", epochs=2, mode="encoder", dropout=0.0, freeze_epoch=2)
    first_epoch = synthetic.train(tmp_path / "one", epochs=1, mode="encoder", dropout=0.0, schedule_epochs=2)
    assert frozen["encoder_weight"] == first_epoch["encoder_weight"]
    assert not np.allclose(first_epoch["encoder_weight"], np.eye(synthetic.DIM), atol=1e-3)
    assert frozen["history"][1][0] < frozen["history"][0][0]  # the head's training loss still falls


@pytest.mark.distributed
def test_freezing_the_encoders_under_two_gloo_processes_rebuilds_ddp_over_the_head(tmp_path: Path) -> None:
    """Epoch 1 fine-tunes the encoder under DDP, epoch 2 freezes it: the old wrapper's reducer would wait for the
    encoder's gradients and stop the second step, so the run completing shows the rebuilt wrapper."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    str(HERE / "synthetic.py"), str(tmp_path), "--epochs", "2", "--mode", "encoder",
                    "--batch-size", "4", "--dropout", "0", "--freeze-epoch", "2"],
                   check=True, env=env, capture_output=True, timeout=180)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["world_size"] == 2 and len(summary["history"]) == 2
    assert not np.allclose(summary["encoder_weight"], np.eye(synthetic.DIM), atol=1e-3)  # epoch 1 trained it


@pytest.mark.distributed
def test_torchrun_two_gloo_processes_equal_one_process_on_a_frame_task(tmp_path: Path) -> None:
    """2 ranks × batch 4 see the same 8 windows per step as 1 process × batch 8 (DistributedSampler shards one
    permutation), the masked mean is taken over both ranks' valid frames, and the validation predictions are gathered
    and reassembled per frame: the metrics agree with the single-process run up to float summation order."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    str(HERE / "synthetic.py"), str(tmp_path / "ddp"), "--epochs", "2", "--mode", "frames",
                    "--batch-size", "4", "--dropout", "0"], check=True, env=env, capture_output=True, timeout=180)
    distributed = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    single = synthetic.train(tmp_path / "one", epochs=2, mode="frames", batch_size=8, dropout=0.0)
    assert distributed["world_size"] == 2
    ddp_values = [value for _, value in distributed["history"]]
    one_values = [value for _, value in single["history"]]
    assert ddp_values == pytest.approx(one_values, abs=1e-5)
    assert distributed["best_epoch"] == single["best_epoch"]


def test_resume_refuses_a_precision_change_and_loads_rng_state_on_the_cpu(tmp_path: Path) -> None:
    """A checkpoint trained in fp16 (with a GradScaler state) cannot continue in fp32, and RNG states load on the CPU
    whatever map_location asks for (here "meta" stands in for a CUDA device)."""
    from abaw_bench.harness.errors import AbawError
    from abaw_bench.harness.train import checkpoint

    synthetic.train(tmp_path, epochs=1)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    checkpoint.save(tmp_path / "last.pt", {**state, "precision": "fp16", "scaler": {"scale": torch.tensor(1024.0)}})
    with pytest.raises(AbawError, match="trained in fp16"):
        synthetic.train(tmp_path, epochs=2, resume=True)
    loaded = checkpoint.load(tmp_path / "last.pt", map_location="meta")
    assert loaded["model"]["head.out.weight"].device.type == "meta"
    assert loaded["rng"][0]["torch"].device.type == "cpu"


def test_trainval_schedule_keeps_the_reused_runs_learning_rate_at_every_step(tmp_path: Path) -> None:
    """A train+val row stops at the reused best epoch but keeps that run's cosine schedule: every step's learning
    rate equals the full run's, instead of decaying to zero at the stop (the schedule is per epoch fraction)."""
    from abaw_bench.harness.runtime.distributed import setup
    from abaw_bench.harness.systems import Hyper
    from abaw_bench.harness.train.data import Collate, ItemDataset
    from abaw_bench.harness.train.engine import FitSettings, TrainableModel, Trainer, seed_everything

    def learning_rates(run_dir: Path, epochs: int, schedule_epochs: int | None) -> list[float]:
        seed_everything(0)
        ids, source, targets = synthetic.make_split(32, 1)
        settings = FitSettings(Hyper(epochs=epochs, batch_size=8, lr=1e-2, warmup_epochs=1.0), rank_batch_size=8,
                               seed=0, progress=False, schedule_epochs=schedule_epochs)
        trainer = Trainer(TrainableModel(synthetic.TinyHead()), settings, setup("cpu"), run_dir)
        seen: list[float] = []
        trainer.optimizer.register_step_pre_hook(lambda optimizer, *_: seen.append(optimizer.param_groups[0]["lr"]))
        trainer.fit(ItemDataset(ids, {"x": source}, targets=targets), Collate({"x": synthetic.DIM}))
        return seen

    full = learning_rates(tmp_path / "full", epochs=5, schedule_epochs=None)
    stopped = learning_rates(tmp_path / "stopped", epochs=2, schedule_epochs=5)
    compressed = learning_rates(tmp_path / "compressed", epochs=2, schedule_epochs=None)
    assert len(stopped) == 2 * 4 and stopped == full[: len(stopped)]
    assert compressed != full[: len(compressed)]  # the old behaviour: the cosine reaches 0 at the reused epoch


def test_resume_with_more_epochs_replans_the_cosine_and_with_fewer_than_trained_is_refused(tmp_path: Path) -> None:
    """`--resume --epochs N` past the stored horizon: from the resumed step on, every step's lr is the N-epoch plan's
    (not the stored plan's last value, 0 at the end of its cosine); N below the epochs already trained is a message."""
    from abaw_bench.harness.errors import AbawError
    from abaw_bench.harness.runtime.distributed import setup
    from abaw_bench.harness.systems import Hyper
    from abaw_bench.harness.train.data import Collate, ItemDataset
    from abaw_bench.harness.train.engine import FitSettings, TrainableModel, Trainer, seed_everything

    def learning_rates(run_dir: Path, epochs: int, *, resume: bool = False) -> list[float]:
        seed_everything(0)
        ids, source, targets = synthetic.make_split(32, 1)
        settings = FitSettings(Hyper(epochs=epochs, batch_size=8, lr=1e-2, warmup_epochs=1.0), rank_batch_size=8,
                               seed=0, progress=False)
        trainer = Trainer(TrainableModel(synthetic.TinyHead()), settings, setup("cpu"), run_dir)
        seen: list[float] = []
        trainer.optimizer.register_step_pre_hook(lambda optimizer, *_: seen.append(optimizer.param_groups[0]["lr"]))
        trainer.fit(ItemDataset(ids, {"x": source}, targets=targets), Collate({"x": synthetic.DIM}), resume=resume)
        return seen

    planned = learning_rates(tmp_path / "four", epochs=4)
    first = learning_rates(tmp_path / "extended", epochs=2)
    assert first[-1] < planned[7]  # the 2-epoch cosine is near its end
    extended = learning_rates(tmp_path / "extended", epochs=4, resume=True)
    assert extended == pytest.approx(planned[8:], rel=1e-12) and len(extended) == 8
    with pytest.raises(AbawError, match=r"already after epoch 4; give --epochs 4 or more"):
        learning_rates(tmp_path / "extended", epochs=3, resume=True)


def test_plateau_schedule_cuts_the_lr_when_validation_stops_improving(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """schedule "plateau": a constant lr within and across epochs until the validation metric has not improved for
    more than `patience` epochs, then lr × 0.1 (ReduceLROnPlateau, stepped once per epoch on the metric)."""
    from abaw_bench.harness.metrics.result import MetricResult
    from abaw_bench.harness.runtime.distributed import setup
    from abaw_bench.harness.systems import Hyper
    from abaw_bench.harness.train import engine
    from abaw_bench.harness.train.data import Collate, ItemDataset

    monkeypatch.setitem(engine.PLATEAU, "patience", 1)  # the rule at a small patience: 4 epochs instead of 12
    engine.seed_everything(0)
    ids, source, targets = synthetic.make_split(16, 1)
    dataset = ItemDataset(ids, {"x": source}, targets=targets)
    settings = engine.FitSettings(Hyper(epochs=4, batch_size=8, lr=1e-2, warmup_epochs=0.0, schedule="plateau"),
                                  rank_batch_size=8, seed=0, progress=False)
    trainer = engine.Trainer(engine.TrainableModel(synthetic.TinyHead()), settings, setup("cpu"), tmp_path)
    seen: list[float] = []
    trainer.optimizer.register_step_pre_hook(lambda optimizer, *_: seen.append(optimizer.param_groups[0]["lr"]))
    values = iter([0.5, 0.4, 0.3, 0.2])  # improves once (epoch 1), then worse every epoch

    def score(predictions: np.ndarray) -> MetricResult:
        return MetricResult("pearson", next(values))

    trainer.fit(dataset, Collate({"x": synthetic.DIM}), dataset, score)
    per_epoch = [seen[i:i + 2] for i in range(0, len(seen), 2)]  # 16 items, batch 8: 2 steps per epoch
    assert per_epoch == [[1e-2] * 2, [1e-2] * 2, [1e-2] * 2, [pytest.approx(1e-3)] * 2]


def test_step_schedule_follows_its_formula_per_epoch_and_resume_keeps_it(tmp_path: Path) -> None:
    """schedule "step" with SGD (the BAH dataset authors' MyStepLR): every step of epoch k (1-based) runs at
    max(lr · gamma^⌊(k − 1) / step_size⌋, floor), and a run resumed after epoch 3 goes on with exactly those lrs."""
    from abaw_bench.harness.runtime.distributed import setup
    from abaw_bench.harness.systems import Hyper
    from abaw_bench.harness.train.data import Collate, ItemDataset
    from abaw_bench.harness.train.engine import FitSettings, TrainableModel, Trainer, seed_everything

    lr, gamma, step_size, floor = 1e-2, 0.1, 2, 2e-4

    def learning_rates(run_dir: Path, epochs: int, *, resume: bool = False) -> list[float]:
        seed_everything(0)
        ids, source, targets = synthetic.make_split(32, 1)
        settings = FitSettings(Hyper(epochs=epochs, batch_size=8, lr=lr, warmup_epochs=0.0, schedule="step",
                                     step_size=step_size, step_gamma=gamma, step_min_lr=floor, optimizer="sgd",
                                     momentum=0.9, nesterov=True, weight_decay=1e-4),
                               rank_batch_size=8, seed=0, progress=False)
        trainer = Trainer(TrainableModel(synthetic.TinyHead()), settings, setup("cpu"), run_dir)
        assert isinstance(trainer.optimizer, torch.optim.SGD)
        assert trainer.optimizer.defaults["nesterov"] and trainer.optimizer.defaults["momentum"] == 0.9
        seen: list[float] = []
        trainer.optimizer.register_step_pre_hook(lambda optimizer, *_: seen.append(optimizer.param_groups[0]["lr"]))
        trainer.fit(ItemDataset(ids, {"x": source}, targets=targets), Collate({"x": synthetic.DIM}), resume=resume)
        return seen

    full = learning_rates(tmp_path / "full", epochs=5)
    expected = [max(lr * gamma ** ((epoch - 1) // step_size), floor) for epoch in range(1, 6) for _ in range(4)]
    assert full == pytest.approx(expected, rel=1e-12)  # 1e-2, 1e-2, 1e-3, 1e-3, then the floor 2e-4 (not 1e-4)
    learning_rates(tmp_path / "resumed", epochs=3)
    assert learning_rates(tmp_path / "resumed", epochs=5, resume=True) == pytest.approx(full[12:], rel=1e-12)
