"""A damaged or foreign `--resume` checkpoint, or a weights file that is a pickle of objects: a message naming the file
and what is wrong with it (never torch's advice to retry with weights_only=False), not a traceback."""

from __future__ import annotations

import shutil
import sys
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.systems import Hyper
from abaw_bench.harness.train import checkpoint

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import synthetic  # noqa: E402


class NotATensor:
    """A class torch.load(weights_only=True) does not know: what `torch.save(model)` stores."""


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a checkpoint " * 20)


def _pickled_object(path: Path) -> None:
    torch.save({"model": NotATensor()}, path)


def _another_model(path: Path) -> None:
    checkpoint.save(path, {**checkpoint.load(path), "model": OrderedDict(weight=torch.zeros(3, 3))})


def _wrong_shapes(path: Path) -> None:
    state = checkpoint.load(path)
    state["model"] = OrderedDict((key, torch.zeros(*value.shape, 2)) for key, value in state["model"].items())
    checkpoint.save(path, state)


def _missing_optimizer(path: Path) -> None:
    state = checkpoint.load(path)
    del state["optimizer"]
    checkpoint.save(path, state)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory after one epoch of the synthetic problem (trained once: each case damages a copy)."""
    run_dir = tmp_path_factory.mktemp("trained")
    synthetic.train(run_dir, epochs=1)
    return run_dir


@pytest.mark.parametrize(("damage", "expected"), [
    (_truncated, "empty, cut short or damaged: not a complete checkpoint"),
    (_garbage, "not a readable checkpoint ("),
    (_pickled_object, "not a weights-only checkpoint: it is a pickle naming the Python object "
                      f"{__name__}.NotATensor"),
    (_another_model, "is not a checkpoint of this run (RuntimeError: Error(s) in loading state_dict"),
    (_wrong_shapes, "is not a checkpoint of this run (RuntimeError: Error(s) in loading state_dict"),
    (_missing_optimizer, "is not a checkpoint of this run (it has no entry 'optimizer')"),
])
def test_a_damaged_or_foreign_last_checkpoint_is_a_message_naming_it(
        tmp_path: Path, trained: Path, damage: Callable[[Path], None], expected: str) -> None:
    shutil.copytree(trained, tmp_path, dirs_exist_ok=True)
    damage(tmp_path / "last.pt")
    with pytest.raises(AbawError) as raised:
        synthetic.train(tmp_path, epochs=2, resume=True)
    message = str(raised.value)
    assert str(tmp_path / "last.pt") in message and expected in message
    assert "weights_only" not in message and len(message) < 700


def test_a_pickled_encoder_weights_file_is_refused_without_torchs_unsafe_advice(tmp_path: Path) -> None:
    from abaw_bench.harness.encoders import load_encoder

    weights = tmp_path / "ir50.pth"
    torch.save({"conv1.weight": torch.zeros(1), "head": NotATensor()}, weights)
    with pytest.raises(AbawError) as raised:
        load_encoder("ir-resnet50", "paper", weights=weights)
    message = str(raised.value)
    assert message.startswith(f"{weights}: not a weights-only checkpoint of encoder ir-resnet50")
    assert "weights_only" not in message


def test_a_foreign_best_checkpoint_is_named_too(tmp_path: Path, trained: Path) -> None:
    shutil.copytree(trained, tmp_path, dirs_exist_ok=True)
    _another_model(tmp_path / "best.pt")
    from abaw_bench.harness.runtime.distributed import setup
    from abaw_bench.harness.train.engine import FitSettings, TrainableModel, Trainer

    settings = FitSettings(Hyper(epochs=1, batch_size=8, lr=3e-3), rank_batch_size=8, seed=0, progress=False)
    trainer = Trainer(TrainableModel(synthetic.TinyHead()), settings, setup("cpu"), tmp_path)
    with pytest.raises(AbawError, match=r"best\.pt is not a checkpoint of this run \(RuntimeError: Error\(s\) in "
                                        r"loading state_dict"):
        trainer.load_best()


def test_a_pickled_pytorch_model_bin_in_a_hub_layout_folder_is_refused_the_same_way(tmp_path: Path) -> None:
    from abaw_bench.harness.encoders import load_encoder, save_checkpoint

    folder = save_checkpoint(load_encoder("wav2vec2-vad", "tiny"), tmp_path / "w2v")
    (folder / "model.safetensors").unlink()
    torch.save({"weights": NotATensor()}, folder / "pytorch_model.bin")  # transformers falls back to this file
    with pytest.raises(AbawError) as raised:
        load_encoder("wav2vec2-vad", "paper", weights=folder)
    message = str(raised.value)
    assert message.startswith(f"{folder}: not a weights-only checkpoint of encoder 'wav2vec2-vad'")
    assert "weights_only" not in message
