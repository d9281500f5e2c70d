"""Pieces of the run pipeline that need no training: epoch reuse for train+val rows, padding, label shuffling, the
--resume identity check."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.systems import get_system
from abaw_bench.harness.train.config import RunConfig
from abaw_bench.harness.train.data import Collate, ItemDataset, pad_sequences, shuffled_targets
from abaw_bench.harness.train.pipeline import reused_epochs
from abaw_bench.harness.train.windows import FrameDataset, InputAlignment, build_grids


def _config(out: Path, **changes) -> RunConfig:
    base = {"system": "hallmen2025", "task": "emi", "variant": "trainval-text-vision", "preset": "tiny",
            "data_root": None, "out_root": str(out), "seed": 3}
    return RunConfig(**(base | changes))


def test_trainval_reads_the_best_epoch_of_its_train_only_run(tmp_path: Path) -> None:
    variant = get_system("hallmen2025").variant("emi", "trainval-text-vision")
    source = _config(tmp_path, variant=variant.reuse_best_epoch_of).run_dir() / "results.json"
    source.parent.mkdir(parents=True)
    source.write_text(json.dumps({"system": "hallmen2025", "task": "emi", "variant": variant.reuse_best_epoch_of,
                                  "val": None, "data": {"demo": True}, "best_epoch": 7, "config": {"preset": "tiny"}}))
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



def test_pad_sequences_copies_read_only_views_once_and_zeroes_only_the_padding(tmp_path: Path) -> None:
    """Memory-map views (read-only) and tensors collate without a warning; stale memory never shows in the padding."""
    np.save(tmp_path / "a.npy", np.arange(12, dtype=np.float32).reshape(6, 2))
    mapped = np.load(tmp_path / "a.npy", mmap_mode="r")
    for _ in range(3):  # torch.empty may hand back the previous batch's memory
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            padded, lengths = pad_sequences([mapped[1:5], torch.full((2, 2), 7.0), mapped[:0]])
        assert lengths.tolist() == [4, 2, 1]
        np.testing.assert_array_equal(padded[0].numpy(), mapped[1:5])
        assert padded[1, :2].eq(7).all() and padded[1, 2:].abs().sum() == 0 and padded[2].abs().sum() == 0


def test_a_window_of_consecutive_crops_is_a_view_of_the_memory_map(tmp_path: Path) -> None:
    """The windows path reads consecutive crops as a view (copied once, by the collate); a window with a frame
    without a crop gathers its rows; both give the rows the face positions say."""
    features = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    np.save(tmp_path / "v.npy", features)

    class Store:
        dim = 3

        def get(self, item_id: str) -> np.ndarray:
            return np.load(tmp_path / f"{item_id}.npy", mmap_mode="r")

    class Facts:
        invalid_label = None

        @staticmethod
        def parse_frame_id(row_id: str) -> tuple[str, int]:
            video, _, frame = row_id.rpartition("/")
            return video, int(frame)

    faces = [0, 1, 2, 3, 5, 6, 7, 8]  # frame 4 has no crop: it reads the crop of frame 3
    split = build_grids(Facts, ["v"], [f"v/{f}" for f in range(9)], None, face_positions={"v": faces})
    dataset = FrameDataset(split, "windows", [(0, 0), (0, 3)], {"x": Store()}, {"x": InputAlignment("image")},
                           window=3)
    consecutive, gathered = dataset[0]["features"]["x"], dataset[1]["features"]["x"]
    assert isinstance(consecutive, np.memmap) and not consecutive.flags.writeable
    np.testing.assert_array_equal(consecutive, features[[0, 1, 2]])
    np.testing.assert_array_equal(gathered, features[[3, 3, 4]])
    padded, _ = Collate({"x": 3})([dataset[0], dataset[1]])["features"]["x"]
    np.testing.assert_array_equal(padded.numpy(), features[[[0, 1, 2], [3, 3, 4]]])

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


def test_selection_by_average_precision_ranks_epochs_by_the_positive_class_ap() -> None:
    """selection "average_precision" (the BAH dataset authors' AP_POS): an epoch that ranks every positive frame above
    every negative one but below 0.5 (weighted F1 .48, AP .67) beats one with the better F1 at 0.5 (.75, AP .57); the
    headline selection prefers the latter. A task without a positive class refuses the choice before any work."""
    from abaw_bench.harness.metrics import bah_frame_metric
    from abaw_bench.harness.systems import Hyper
    from abaw_bench.harness.tasks import get_task
    from abaw_bench.harness.tasks.base import Table
    from abaw_bench.harness.train.datasets import SplitData
    from abaw_bench.harness.train.pipeline import resolve_hyper, selection_higher_is_better, selection_metric

    task = get_task("bah")
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 0])
    ids = [f"v.mp4/frame-{index:05d}.jpg" for index in range(len(labels))]
    val = SplitData(None, ids, Table(ids, labels[:, None].astype(np.float64), ("label",)))
    ranked_low = np.array([0.1, 0.1, 0.1, 0.1, 0.4, 0.4, 0.3, 0.2])
    noisy_high = np.array([0.2, 0.2, 0.7, 0.2, 0.8, 0.8, 0.3, 0.2])
    by_ap = [selection_metric(task, Hyper(selection="average_precision"), val, p[:, None]) for p in (ranked_low,
                                                                                                      noisy_high)]
    by_f1 = [selection_metric(task, Hyper(), val, p[:, None]) for p in (ranked_low, noisy_high)]
    expected = bah_frame_metric((ranked_low >= 0.5).astype(float), labels, scores=ranked_low)
    assert by_ap[0].metric == "average_precision" and by_ap[0].value == expected.breakdown["average_precision"]
    assert by_ap[0].breakdown["weighted_f1"] == expected.value and "average_precision" not in by_ap[0].breakdown
    assert by_ap[0].value > by_ap[1].value and by_f1[0].value < by_f1[1].value
    assert selection_higher_is_better(task, Hyper(selection="average_precision"))
    config = RunConfig(system="hallmen2025", task="emi", variant=None, preset="tiny", data_root=None, out_root="unused",
                       hyper_overrides={"selection": "average_precision"})
    with pytest.raises(AbawError, match="it needs a binary task, and task 'emi' is not one"):
        resolve_hyper(get_system("hallmen2025"), "emi", get_system("hallmen2025").variant("emi", None), config)


def test_training_loaders_take_extractions_worker_rule_within_the_shared_memory(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """CUDA: 4-8 workers by default, fewer when /dev/shm cannot hold their batches in flight; the CPU: none by default;
    an explicit count stands."""
    from abaw_bench.harness.features import loading
    from abaw_bench.harness.runtime.distributed import DistContext
    from abaw_bench.harness.train.engine import loader_workers

    rows = np.zeros((250, 4), np.float32)  # 4 kB per item

    class Source:
        dim = 4

        def get(self, item_id: str) -> np.ndarray:
            return rows

    dataset = ItemDataset([f"i{k}" for k in range(8)], {"x": Source()})
    collate = Collate({"x": 4})
    gpu, cpu = DistContext(0, 1, 0, torch.device("cuda:0")), DistContext(0, 1, 0, torch.device("cpu"))
    monkeypatch.setattr(loading, "free_shared_memory", lambda: 1 << 30)
    roomy = loader_workers(dataset, collate, 4, gpu, None)
    assert 4 <= roomy.num_workers <= 8 and roomy.pin_memory and roomy.note is None
    assert loader_workers(dataset, collate, 4, cpu, None).num_workers == 0
    assert loader_workers(dataset, collate, 4, cpu, 2).num_workers == 2
    # A batch of 4 items is ~16 kB, assumed 32 kB; 100 kB of free shared memory (half of it usable) holds one.
    monkeypatch.setattr(loading, "free_shared_memory", lambda: 100_000)
    tight = loader_workers(dataset, collate, 4, gpu, None)
    assert tight.num_workers == 1 and tight.prefetch_factor == 1
    assert "1 worker(s)" in capsys.readouterr().err


def test_resume_reads_a_field_its_config_json_lacks_as_that_fields_default(tmp_path: Path) -> None:
    """A run directory written before RunConfig had `skip_bad` resumes without it; a run with --skip-bad does not."""
    from dataclasses import asdict

    from abaw_bench.harness.train.pipeline import _check_resume

    hyper, model = {"epochs": 3, "lr": 1e-3}, {"dropout": 0.1}
    old = _config(tmp_path).to_json()
    del old["skip_bad"]
    (tmp_path / "config.json").write_text(json.dumps({"run": old, "hyper": hyper, "model": model}), encoding="utf-8")
    same = _config(tmp_path, resume=True)
    _check_resume(same, tmp_path, {"run": asdict(same), "hyper": hyper, "model": model})
    skipping = _config(tmp_path, resume=True, skip_bad=True)
    with pytest.raises(AbawError, match=r"differs in: skip_bad\)"):
        _check_resume(skipping, tmp_path, {"run": asdict(skipping), "hyper": hyper, "model": model})
    with pytest.raises(AbawError, match=r"differs in: model\)"):  # a changed model knob is another run
        _check_resume(same, tmp_path, {"run": asdict(same), "hyper": hyper, "model": {"dropout": 0.2}})


def test_resume_of_a_run_written_before_model_knobs_were_recorded_says_so(tmp_path: Path) -> None:
    """Its model's settings are unknown (dropout sat in "hyper", the widths were not recorded): refused by name."""
    from dataclasses import asdict

    from abaw_bench.harness.train.pipeline import _check_resume

    (tmp_path / "config.json").write_text(json.dumps({"run": _config(tmp_path).to_json(),
                                                      "hyper": {"epochs": 3, "dropout": 0.1}}), encoding="utf-8")
    same = _config(tmp_path, resume=True)
    with pytest.raises(AbawError, match=r"written by an older abaw-bench.*no 'model'.*--overwrite"):
        _check_resume(same, tmp_path, {"run": asdict(same), "hyper": {"epochs": 3}, "model": {"dropout": 0.1}})
