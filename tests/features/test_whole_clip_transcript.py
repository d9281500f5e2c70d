"""The text branch embeds the transcript of the whole clip, whatever cut (`max_seconds`) the audio branch uses.

hallmen2025 cuts audio to 12 s; a run passes that cut for every input, so it used to reach the asr input of the text
branch too. The stand-in asr below "hears" one word per second — "calm" for the low tone of the first 12 s, "alarm"
for the high tone after it — so the transcript shows whether the words after 12 s were transcribed.
"""

from __future__ import annotations

import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from abaw_bench.harness.encoders import encoder_info, load_encoder
from abaw_bench.harness.encoders.base import Encoder
from abaw_bench.harness.features import FeatureRequest, ensure_features, open_store, pipeline
from abaw_bench.harness.features.request import ASR_ENCODER
from abaw_bench.harness.tasks.base import Item

RATE, CUT, LOW_SECONDS, HIGH_SECONDS = 16000, 12.0, 12, 8


class ToneTranscriber(Encoder):
    """An "asr" encoder: one word per whole second of audio, by the dominant frequency of that second."""

    def __init__(self) -> None:
        self.info = encoder_info(ASR_ENCODER)
        self.preset, self.weights_source, self.model = "tiny", "test stand-in", None

    def fingerprint(self) -> str:
        return "tone-transcriber-v1"

    def cache_params(self) -> dict[str, Any]:
        return {}

    def prepare(self, media: Any) -> np.ndarray:
        return np.asarray(media, dtype=np.float32)

    def collate(self, prepared: Sequence[np.ndarray]) -> dict[str, Any]:
        return {"waves": list(prepared)}

    def forward(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        transcripts = []
        for wave_ in batch["waves"]:
            seconds = [wave_[start:start + RATE] for start in range(0, len(wave_) - RATE + 1, RATE)]
            words = ["alarm" if np.argmax(np.abs(np.fft.rfft(chunk))) > 1000 else "calm" for chunk in seconds]
            transcripts.append({"text": " ".join(words), "words": [
                {"word": word, "start": float(i), "end": i + 1.0} for i, word in enumerate(words)], "segments": []})
        return transcripts

    def to(self, device: str, dtype: str) -> ToneTranscriber:
        return self


def _write_tones(path: Path) -> None:
    """LOW_SECONDS of a 300 Hz tone, then HIGH_SECONDS of a 2 kHz tone."""
    time = np.arange(RATE * (LOW_SECONDS + HIGH_SECONDS)) / RATE
    signal = np.where(time < LOW_SECONDS, np.sin(2 * np.pi * 300 * time), np.sin(2 * np.pi * 2000 * time))
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(RATE)
        handle.writeframes((signal * 12000).astype(np.int16).tobytes())


@pytest.fixture
def clip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data root with one 20 s clip and no dataset transcript, served as the "emi" train split."""
    monkeypatch.setenv("ABAW_BENCH_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "data"
    (root / "audio").mkdir(parents=True)
    _write_tones(root / "audio" / "00000.wav")
    items = [Item("00000", "train", {"audio": root / "audio" / "00000.wav"})]
    monkeypatch.setattr(pipeline, "_split_items", lambda task, data_root, split: items)
    real_load = pipeline.load_requested
    monkeypatch.setattr(pipeline, "load_requested", lambda request, *args: ToneTranscriber()
                        if request.encoder == ASR_ENCODER else real_load(request, *args))
    return root


def _embed(encoder: Encoder, text: str) -> np.ndarray:
    import torch

    with torch.no_grad():
        return encoder.forward(encoder.collate([encoder.prepare(text)]))[0].numpy()


def test_text_features_embed_the_whole_clip_despite_the_audio_cut(clip: Path) -> None:
    whole = " ".join(["calm"] * LOW_SECONDS + ["alarm"] * HIGH_SECONDS)
    first_12_s = " ".join(["calm"] * LOW_SECONDS)
    # The stand-in honours an explicit cut when asked for a transcript on its own: the check below can fail.
    cut = ensure_features(FeatureRequest("emi", ASR_ENCODER, "tiny", clip, max_seconds=CUT, progress=False), "train")
    assert cut.transcript("00000")["text"] == first_12_s

    text = FeatureRequest("emi", "gte-base", "tiny", clip, max_seconds=CUT, progress=False)
    store = ensure_features(text, "train")
    assert store.summary["transcripts_from"].startswith(ASR_ENCODER)
    features = np.asarray(store.get("00000"))
    text_encoder = load_encoder("gte-base", "tiny")
    assert not np.allclose(features, _embed(text_encoder, first_12_s), atol=1e-3)
    np.testing.assert_allclose(features, _embed(text_encoder, whole), rtol=1e-5, atol=1e-6)
    # the uncut transcript the text branch read
    asr = open_store(FeatureRequest("emi", ASR_ENCODER, "tiny", clip), "train")
    assert asr.transcript("00000")["text"] == whole

    reopened = open_store(text, "train")  # a run's read-only path
    assert reopened.path("00000") == store.path("00000")
