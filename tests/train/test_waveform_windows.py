"""A fine-tuned audio encoder's centred input: each sample's waveform window is the slice of its video's decoded
track centred on its frame, cut (not shifted) at the track's edges, read from the memory-mapped waveform cache."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.features.waveforms import ensure_waveforms
from abaw_bench.harness.media import load_audio
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
