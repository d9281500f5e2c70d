"""`FeatureRequest` changes no cache key: a request finds the folder the keyword API wrote before it existed."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.features import FeatureRequest, open_items
from abaw_bench.harness.features.request import ASR_ENCODER
from abaw_bench.harness.tasks.base import Item

# The folder `_layout` named for this encoder, dtype and cuts before FeatureRequest existed (computed on the
# keyword-argument code, commit 860ad9e): a cache written then must still be found.
KEYED_BEFORE = "wav2vec2-vad-tiny-0c7f7a0a8718"


def _stub_encoder() -> SimpleNamespace:
    return SimpleNamespace(fingerprint=lambda: "f1e2d3c4b5a69788",
                           cache_params=lambda: {"sample_rate": 16000, "max_seconds": 30.0},
                           info=SimpleNamespace(name="wav2vec2-vad", modality="audio", model_id="m"), preset="tiny",
                           output_dim=35, is_random=True, dtype="bf16", device="cpu")


def test_a_request_looks_in_the_folder_the_keyword_api_keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABAW_BENCH_CACHE", str(tmp_path / "cache"))
    encoder = _stub_encoder()
    request = FeatureRequest.for_encoder(encoder, "emi", tmp_path, max_seconds=12.0)
    assert (request.dtype, request.max_frames) == ("bf16", None)
    items = [Item("clip0", "train", {"audio": tmp_path / "clip0.wav"})]
    expected = tmp_path / "cache" / "features" / "emi" / KEYED_BEFORE
    with pytest.raises(AbawError, match=f"in {expected}; run `abaw-bench extract"):
        open_items(encoder, request, items, "train")  # nothing cached: the message names the folder it looked in


def test_a_request_must_name_the_encoder_it_is_handed_with(tmp_path: Path) -> None:
    request = FeatureRequest("emi", "vit-h14", "tiny", tmp_path)
    with pytest.raises(ValueError, match=r"asks for vit-h14 \[tiny\] features, the encoder given is wav2vec2-vad"):
        open_items(_stub_encoder(), request, [], "train")


def test_the_asr_request_keeps_the_extraction_and_takes_the_asr_weights(tmp_path: Path) -> None:
    text = FeatureRequest("emi", "gte-base", "tiny", str(tmp_path), weights="/gte", trust_remote_code=True,
                          asr_weights="/whisper.pt", download_root="/models", device="cpu", dtype="bf16",
                          max_frames=4, batch_size=16, num_workers=2, skip_bad=True)
    asr = text.asr()
    assert isinstance(text.data_root, Path)
    assert (asr.encoder, asr.weights, asr.asr_weights, asr.trust_remote_code, asr.max_frames) == (
        ASR_ENCODER, "/whisper.pt", None, False, None)
    assert (asr.preset, asr.download_root, asr.dtype, asr.batch_size, asr.num_workers, asr.skip_bad) == (
        "tiny", "/models", "bf16", 16, 2, True)
