"""A fine-tuned audio encoder under centred sampling (hallmen2025 BAH): each sample's waveform window is the slice of
its video's decoded track centred on its frame, cut (not shifted) at the track's edges, read from the memory-mapped
waveform cache; the tiny wav2vec2 trains on those windows inside the engine's step, stops exactly at its freeze epoch,
and under bf16 autocast every one of its parameters gets a gradient."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.features.waveforms import ensure_waveforms
from abaw_bench.harness.media import load_audio
from abaw_bench.harness.systems import Hyper
from abaw_bench.harness.tasks.base import Item
from abaw_bench.harness.train.windows import FrameDataset, FrameGrid, GridSplit, InputAlignment, WaveformWindows

RATE = 16_000
FPS = 25.0
SPAN = 2.0  # seconds: 32,000 samples, 16,000 each side of the centre
AUDIO = "wav2vec2-vad"


def write_wav(path: Path, samples: np.ndarray) -> Path:
    """16 kHz mono 16-bit PCM."""
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(RATE)
        handle.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    return path


def tracks(folder: Path) -> list[Item]:
    """Two videos' tracks, 3 s and 5 s, whose samples differ along the track (a ramp plus a tone), so that a slice
    taken at the wrong place cannot equal the expected one."""
    items = []
    for name, seconds in (("a", 3), ("b", 5)):
        n = seconds * RATE
        samples = (np.arange(n) % 20_000 - 10_000 + 3000 * np.sin(np.arange(n) / 7.0)).astype(np.int16)
        items.append(Item(id=f"1/{name}.mp4", split="train", media={"audio": write_wav(folder / f"{name}.wav",
                                                                                          samples)}))
    return items


@pytest.fixture()
def dataset(tmp_path: Path) -> tuple[FrameDataset, list[Item]]:
    items = tracks(tmp_path)
    store = ensure_waveforms("bah", items, tmp_path, progress=False, directory=tmp_path / "cache")
    rates = {item.id: FPS for item in items}
    windows = WaveformWindows(store, rates, SPAN, np.asarray)  # prepare = identity: the raw window
    grids = [FrameGrid("1/a.mp4", 75, np.zeros((75, 1), np.float32)),
             FrameGrid("1/b.mp4", 201, np.zeros((201, 1), np.float32))]  # its track ends at frame 125
    split = GridSplit(grids, [], np.zeros(0, np.int64), np.zeros(0, np.int64))
    samples = [(0, 0), (0, 10), (0, 37), (0, 74), (1, 62), (1, 124), (1, 200)]
    frame_set = FrameDataset(split, "centred", samples, {}, {AUDIO: InputAlignment("audio", SPAN)},
                             frame_rates=rates, prepared={AUDIO: windows})
    return frame_set, items


def test_a_samples_window_is_the_track_slice_centred_on_its_frame_cut_at_the_edges(dataset) -> None:
    frame_set, items = dataset
    decoded = {item.id: load_audio(item.media["audio"]) for item in items}
    half = round(SPAN * RATE / 2)
    expected_lengths = {(0, 0): half, (0, 10): half + 6400, (0, 37): 2 * half, (0, 74): half + 640,
                        (1, 62): 2 * half, (1, 124): half + 640}
    for index, (grid, frame) in enumerate(frame_set.samples):
        item_id = frame_set.split.grids[grid].item_id
        track = decoded[item_id]
        window = frame_set[index]["prepared"][AUDIO]
        centre = round(frame / FPS * RATE)  # frame f at f / 25 s: sample 640 f
        if centre - half >= len(track):  # past the track's end: one encoder frame of silence
            np.testing.assert_array_equal(window, np.zeros(400, np.float32))
            continue
        np.testing.assert_array_equal(window, track[max(centre - half, 0):min(centre + half, len(track))])
        assert len(window) == expected_lengths[(grid, frame)]


def test_the_store_memory_maps_each_track_and_decodes_it_once(dataset, tmp_path: Path) -> None:
    frame_set, items = dataset
    store = frame_set.prepared[AUDIO].store
    assert isinstance(store.get(items[1].id), np.memmap) and len(store.get(items[1].id)) == 5 * RATE
    written = {path: path.stat().st_mtime_ns for path in store.paths.values()}
    again = ensure_waveforms("bah", items, tmp_path, progress=False, directory=tmp_path / "cache")
    assert {path: path.stat().st_mtime_ns for path in again.paths.values()} == written  # read, not decoded again


def test_the_encoders_prepare_normalises_each_window_on_its_own(dataset) -> None:
    from abaw_bench.harness.encoders import load_encoder

    frame_set, _ = dataset
    encoder = load_encoder(AUDIO, "tiny", max_seconds=SPAN)
    raw = frame_set.prepared[AUDIO]
    windows = WaveformWindows(raw.store, raw.frame_rates, SPAN, encoder.prepare)
    prepared = windows("1/a.mp4", np.array([10])).numpy()
    samples = raw.window("1/a.mp4", 10)
    np.testing.assert_allclose(prepared, (samples - samples.mean()) / np.sqrt(samples.var() + 1e-7), atol=1e-5)


# --------------------------------------------------------------------------------------------------- training


def training_set(folder: Path, prepare) -> FrameDataset:
    """Eight centred samples over the two tracks, half of them positive, each reading a 2 s waveform window."""
    items = tracks(folder)
    store = ensure_waveforms("bah", items, folder, progress=False, directory=folder / "cache")
    rates = {item.id: FPS for item in items}
    labels = [np.zeros((75, 1), np.float32), np.zeros((125, 1), np.float32)]
    labels[0][40:], labels[1][:60] = 1.0, 1.0
    grids = [FrameGrid(item.id, len(target), target) for item, target in zip(items, labels, strict=True)]
    split = GridSplit(grids, [], np.zeros(0, np.int64), np.zeros(0, np.int64))
    samples = [(0, 5), (0, 30), (0, 50), (0, 70), (1, 10), (1, 50), (1, 80), (1, 120)]
    return FrameDataset(split, "centred", samples, {}, {AUDIO: InputAlignment("audio", SPAN)}, frame_rates=rates,
                        prepared={AUDIO: WaveformWindows(store, rates, SPAN, prepare)})


def fine_tune(folder: Path, run: str, *, epochs: int, freeze_epoch: int | None = None) -> dict:
    """The engine's training of the tiny wav2vec2 + an LSTM head on `training_set` (one step of 8 per epoch, on the
    same 2-epoch schedule whatever `epochs`); the final weights of encoder and head, and the initial encoder's."""
    from abaw_bench.harness.encoders import load_encoder
    from abaw_bench.harness.runtime.distributed import setup
    from abaw_bench.harness.train.data import Collate
    from abaw_bench.harness.train.engine import FitSettings, TrainableModel, Trainer, seed_everything
    from abaw_bench.systems._heads import Branch, BranchFusionRegressor

    encoder = load_encoder(AUDIO, "tiny", trainable=True, max_seconds=SPAN)
    initial = {name: value.clone() for name, value in encoder.model.state_dict().items()}
    seed_everything(0)
    head = BranchFusionRegressor([Branch(AUDIO, "lstm", None)], {AUDIO: encoder.output_dim}, fusion_hidden=8,
                                 outputs=1, dropout=0.0)
    settings = FitSettings(Hyper(epochs=epochs, batch_size=8, lr=1e-3, encoder_lr=1e-3, warmup_epochs=0.0, loss="bce",
                                 grad_clip_value=100.0, encoder_freeze_epoch=freeze_epoch),
                           rank_batch_size=8, schedule_epochs=2, progress=False)
    trainer = Trainer(TrainableModel(head, {AUDIO: encoder}), settings, setup("cpu"), folder / run)
    trainer.fit(training_set(folder, encoder.prepare), Collate({}, {AUDIO: encoder.collate}))
    return {"initial": initial, "encoder": encoder.model.state_dict(), "head": head.state_dict()}


def test_training_moves_wav2vec2_and_freezing_at_the_freeze_epoch_keeps_exactly_the_earlier_weights(
        tmp_path: Path) -> None:
    """Epoch 1 alone changes every part of the encoder (convolutions, transformer, VAD head); a run frozen from
    epoch 2 of 2 ends with exactly those weights, while its head goes on learning in epoch 2."""
    import torch

    first = fine_tune(tmp_path, "one", epochs=1)
    for name in ("wav2vec2.feature_extractor.conv_layers.0.conv.weight",
                 "wav2vec2.encoder.layers.1.feed_forward.output_dense.weight", "classifier.out_proj.weight"):
        assert not torch.equal(first["encoder"][name], first["initial"][name]), name
    frozen = fine_tune(tmp_path, "frozen", epochs=2, freeze_epoch=2)
    assert all(torch.equal(frozen["initial"][name], first["initial"][name]) for name in first["initial"])
    assert all(torch.equal(value, first["encoder"][name]) for name, value in frozen["encoder"].items())
    assert any(not torch.equal(value, first["head"][name]) for name, value in frozen["head"].items())


def test_a_bf16_autocast_step_gives_every_wav2vec2_parameter_a_gradient(tmp_path: Path) -> None:
    """One step of head + encoder under CPU bf16 autocast (what a CUDA run's autocast does on its device), on windows
    of unequal length (edge windows padded in the batch): finite, every encoder parameter with a finite gradient, as
    DistributedDataParallel requires of each step."""
    import torch
    from abaw_bench.harness.encoders import load_encoder
    from abaw_bench.harness.train.engine import TrainableModel
    from abaw_bench.systems._heads import Branch, BranchFusionRegressor

    encoder = load_encoder(AUDIO, "tiny", trainable=True, max_seconds=SPAN)
    head = BranchFusionRegressor([Branch(AUDIO, "lstm", None)], {AUDIO: encoder.output_dim}, fusion_hidden=8,
                                 outputs=1, dropout=0.0)
    model = TrainableModel(head, {AUDIO: encoder}).train()
    frame_set = training_set(tmp_path, encoder.prepare)
    batch = encoder.collate([frame_set[index]["prepared"][AUDIO] for index in (0, 1, 3, 7)])
    assert len(set(batch["lengths"].tolist())) > 1  # edge windows are shorter: the batch pads them
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model({}, {AUDIO: batch})
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), torch.tensor([[0.], [0.], [1.], [1.]]))
    loss.backward()
    assert logits.shape == (4, 1) and torch.isfinite(loss)
    missing = [name for name, p in encoder.model.named_parameters() if p.grad is None or not p.grad.isfinite().all()]
    assert not missing, missing
