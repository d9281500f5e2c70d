"""The EMI demo dataset: byte-for-byte determinism, the official layout, and planted signals that stay recoverable."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.demo import generate
from abaw_bench.harness.demo.emi import EMOTION_WORDS, FACE_FPS, TONE_HZ
from abaw_bench.harness.paths import DEMO_MARKER
from abaw_bench.harness.tasks.emi import EMOTIONS, EmiReader


@pytest.fixture(scope="module")
def demo(demo_root) -> Path:
    return demo_root("emi")


def _file_hashes(root: Path) -> dict[str, str]:
    return {path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


def test_generation_is_deterministic(tmp_path: Path, demo: Path) -> None:
    """A fresh generation with seed 0 reproduces the session's demo (also seed 0) file for file, byte for byte."""
    fresh = _file_hashes(generate("emi", tmp_path / "again", seed=0))
    assert fresh == _file_hashes(demo)
    assert len(fresh) > 1000


def test_layout_and_media_shapes(demo: Path) -> None:
    reader = EmiReader(demo)
    header = "Filename,Admiration,Amusement,Determination,Empathic Pain,Excitement,Joy"
    for filename in ("train_split.csv", "valid_split.csv"):
        assert (demo / filename).read_text(encoding="utf-8").splitlines()[0] == header
    assert not list(demo.glob("test_data/*.csv"))
    import av  # the decoder a system would use

    for item in reader.items("train")[:8] + reader.items("test")[:4]:
        with av.open(str(item.media["audio"])) as container:
            stream = container.streams.audio[0]
            assert (stream.sample_rate, stream.codec_context.layout.nb_channels) == (16_000, 1)
            samples = sum(frame.samples for frame in container.decode(audio=0))
        duration = samples / 16_000
        assert 1.0 <= duration <= 8.2
        frames = sorted(item.media["faces"].glob("*.jpg"))
        assert abs(len(frames) - FACE_FPS * duration) <= 1.5
        vit = pickle.loads(item.media["vit"].read_bytes())
        wav2vec2 = pickle.loads(item.media["wav2vec2"].read_bytes())
        assert vit.dtype == wav2vec2.dtype == np.float32
        assert vit.shape == (len(frames), 384) and wav2vec2.shape[1] == 768 and wav2vec2.shape[0] >= 1
        transcript = json.loads(item.media["transcript"].read_text(encoding="utf-8"))
        starts = [word["start"] for word in transcript["words"]]
        assert starts == sorted(starts) and all(0 <= w["start"] < w["end"] <= duration for w in transcript["words"])
        assert transcript["text"].rstrip(".").lower().split() == [w["word"].lower() for w in transcript["words"]]


def _word_rates(reader: EmiReader, split: str) -> np.ndarray:
    vocabulary = {word: k for k, emotion in enumerate(EMOTIONS) for word in EMOTION_WORDS[emotion]}
    rates = []
    for item in reader.items(split):
        words = [w["word"].lower() for w in json.loads(item.media["transcript"].read_text("utf-8"))["words"]]
        counts = np.bincount([vocabulary[w] for w in words if w in vocabulary], minlength=len(EMOTIONS))
        rates.append(counts / len(words))
    return np.array(rates)


def _column_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([np.corrcoef(a[:, k], b[:, k])[0, 1] for k in range(a.shape[1])])


def test_planted_text_signal_is_recoverable_and_per_clip(demo: Path) -> None:
    """Each emotion's word rate tracks its label; with labels shuffled across clips the relation is gone."""
    reader = EmiReader(demo)
    rates = np.concatenate([_word_rates(reader, "train"), _word_rates(reader, "val")])
    labels = np.concatenate([reader.labels("train").values, reader.labels("val").values])
    r = _column_pearson(rates, labels)
    assert r.min() > 0.35 and r.mean() > 0.5, r
    shuffled = _column_pearson(rates, labels[np.random.default_rng(0).permutation(len(labels))])
    assert np.abs(shuffled).mean() < 0.15, shuffled


def test_planted_audio_signal_survives_mp3(demo: Path) -> None:
    """Tone power in the decoded mp3 tracks the labels (the encoder must not erase the audio signal)."""
    import av

    reader = EmiReader(demo)
    items, labels = reader.items("train")[:80], reader.labels("train").values[:80]
    power = []
    for item in items:
        with av.open(str(item.media["audio"])) as container:
            signal = np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)])
        spectrum = np.abs(np.fft.rfft(signal)) ** 2
        frequencies = np.fft.rfftfreq(signal.size, 1 / 16_000)
        power.append([np.log(spectrum[np.abs(frequencies - f) < 15].sum() / spectrum.sum()) for f in TONE_HZ])
    r = _column_pearson(np.array(power), labels)
    assert r.mean() > 0.4, r


def test_marker_documents_strengths_in_the_papers_order(demo: Path) -> None:
    marker = json.loads((demo / DEMO_MARKER).read_text(encoding="utf-8"))
    probe = marker["probe_val_mean_pearson"]
    assert probe["text"] > probe["audio"] > probe["vision"] > 0.3
    assert min(probe["vit"], probe["wav2vec2"]) > 0.3
    assert max(abs(v) for v in marker["probe_val_mean_pearson_shuffled_labels"].values()) < 0.2
    assert marker["manifest"]["sha256"] == EmiReader(demo).manifest().sha256()
