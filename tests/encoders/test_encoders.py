"""Every encoder's tiny preset round-trips through its real checkpoint format and loading path, with the documented
shapes; real-weight lookups fail with one clear message."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from abaw_bench.harness.encoders import ENCODERS, build_random, encoder_info, load_encoder, save_checkpoint
from abaw_bench.harness.errors import AbawError

RNG = np.random.default_rng(0)
WAVES = [(0.1 * RNG.standard_normal(n)).astype(np.float32) for n in (16000, 23456)]
IMAGES = [[RNG.integers(0, 256, (70, 60, 3), dtype=np.uint8) for _ in range(k)] for k in (2, 3)]
TEXTS = ["A man is playing a guitar.", "The stock market fell sharply today."]
MEDIA = {"audio": WAVES, "image": IMAGES, "text": TEXTS}
FEATURE_ENCODERS = [name for name, info in ENCODERS if info.modality != "asr"]


def run(encoder, media: list) -> list:
    with torch.no_grad():
        return encoder.forward(encoder.collate([encoder.prepare(item) for item in media]))


def expected_rows(encoder, item) -> int:
    if encoder.info.modality == "image":
        return len(item)
    if encoder.info.modality == "text" and encoder.info.frame_alignment == "spread":  # one row per wordpiece
        return len(encoder.tokenizer.tokenize(item))
    if encoder.info.modality == "text":
        return 1
    if encoder.info.name == "vggish":  # one 0.96 s patch every 40 ms, at least one
        return 1 + max(0, (len(item) - 400) // 160 + 1 - 96) // 4
    samples = min(len(item), round(getattr(encoder, "max_seconds", 1e9) * 16000))
    return (samples - 400) // 320 + 1  # the conv stack: 400-sample receptive field, 320-sample hop


@pytest.mark.parametrize("name", FEATURE_ENCODERS)
def test_tiny_roundtrip_through_saved_checkpoint(name: str, tmp_path: Path) -> None:
    encoder = load_encoder(name, "tiny")
    media = MEDIA[encoder.info.modality]
    outputs = run(encoder, media)
    for item, output in zip(media, outputs, strict=True):
        assert output.shape == (expected_rows(encoder, item), encoder_info(name).output_dims["tiny"])
        assert torch.isfinite(output).all()
    saved = save_checkpoint(encoder, tmp_path / name)
    reloaded = load_encoder(name, "tiny", weights=saved)
    assert reloaded.weights_path is not None and "random" not in reloaded.describe()
    for before, after in zip(outputs, run(reloaded, media), strict=True):
        torch.testing.assert_close(after, before, rtol=0, atol=0)
    assert reloaded.fingerprint() == load_encoder(name, "tiny", weights=saved).fingerprint()


def test_random_weights_are_deterministic_and_labelled() -> None:
    first, second = load_encoder("wav2vec2-vad", "tiny"), load_encoder("wav2vec2-vad", "tiny")
    assert "random weights" in first.describe()
    assert first.fingerprint() == second.fingerprint()
    assert first.fingerprint().startswith("random-")
    assert load_encoder("wav2vec2-vad", "tiny", max_seconds=0.5).fingerprint() != first.fingerprint()


def test_wav2vec2_vad_matches_published_checkpoint_layout() -> None:
    keys = set(build_random("wav2vec2-vad", "tiny").model.state_dict())
    assert {"classifier.dense.weight", "classifier.out_proj.weight", "classifier.out_proj.bias",
            "wav2vec2.feature_projection.projection.weight", "wav2vec2.encoder.layer_norm.weight"} <= keys
    assert all(key.startswith(("wav2vec2.", "classifier.")) for key in keys)


def test_wav2vec2_vad_item_is_independent_of_its_batch() -> None:
    encoder = load_encoder("wav2vec2-vad", "tiny")
    long_clip = (0.1 * RNG.standard_normal(16000 * 3)).astype(np.float32)
    alone = run(encoder, [WAVES[0]])[0]
    in_batch = run(encoder, [long_clip, WAVES[0], WAVES[1]])[1]
    torch.testing.assert_close(in_batch, alone, rtol=1e-4, atol=1e-4)


def test_wav2vec2_vad_cuts_to_max_seconds_and_normalises() -> None:
    encoder = load_encoder("wav2vec2-vad", "tiny", max_seconds=0.5)
    prepared = encoder.prepare(10.0 + 3.0 * WAVES[1])
    assert prepared.numel() == 8000
    assert abs(float(prepared.mean())) < 1e-4 and abs(float(prepared.std(unbiased=False)) - 1) < 1e-3
    assert run(encoder, [WAVES[1]])[0].shape[0] == 24


def test_time_major_feature_encoder_matches_transformers_path() -> None:
    extractor = build_random("wav2vec2-vad", "tiny").model.wav2vec2.feature_extractor
    waves = torch.from_numpy(np.stack([WAVES[0], WAVES[1][:16000]]))
    with torch.no_grad():
        fast = extractor(waves)
    reference = extractor(waves)  # with gradients enabled: transformers' own channel-major code
    torch.testing.assert_close(fast, reference.detach(), rtol=1e-4, atol=1e-5)


def test_cached_positional_kernel_matches_and_follows_weight_updates() -> None:
    embedding = build_random("wav2vec2-vad", "tiny").model.wav2vec2.encoder.pos_conv_embed
    hidden = torch.randn(2, 30, 32)
    with torch.no_grad():
        cached = embedding(hidden)
    torch.testing.assert_close(cached, embedding(hidden).detach(), rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        embedding.conv.parametrizations.weight.original0.mul_(2.0)  # an optimiser-style in-place update of g
        updated = embedding(hidden)
    torch.testing.assert_close(updated, embedding(hidden).detach(), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(updated, cached)


def test_checkpoint_without_vad_head_is_rejected(tmp_path: Path) -> None:
    from transformers import Wav2Vec2Model

    encoder = build_random("wav2vec2-vad", "tiny")
    Wav2Vec2Model(encoder.model.config).save_pretrained(tmp_path)
    with pytest.raises(AbawError, match="missing"):
        load_encoder("wav2vec2-vad", "tiny", weights=tmp_path)


@pytest.mark.parametrize("name", ["wav2vec2-vad", "wavlm-large"])
def test_saved_normalisation_reloads_and_a_damaged_preprocessor_config_is_named(name: str, tmp_path: Path) -> None:
    encoder = load_encoder(name, "tiny", normalize=True)
    saved = save_checkpoint(encoder, tmp_path)
    assert load_encoder(name, "tiny", weights=saved).normalize is True
    (saved / "preprocessor_config.json").write_text("[1, 2")
    with pytest.raises(AbawError, match=r"preprocessor_config\.json: not a readable preprocessor_config\.json"):
        load_encoder(name, "tiny", weights=saved)


def test_whisper_tiny_checkpoint_transcribes_whole_clip(tmp_path: Path) -> None:
    encoder = load_encoder("whisper-large-v3", "tiny")
    assert "random weights" in encoder.describe()
    transcript = run(encoder, [WAVES[1]])[0]
    assert set(transcript) == {"text", "words", "segments"}
    assert all(set(word) == {"word", "start", "end"} for word in transcript["words"])
    assert "".join(word["word"] for word in transcript["words"]).strip() == transcript["text"]
    saved = save_checkpoint(encoder, tmp_path)
    assert saved.suffix == ".pt" and set(torch.load(saved, weights_only=True)) == {"dims", "model_state_dict"}
    assert run(load_encoder("whisper-large-v3", "tiny", weights=saved), [WAVES[1]])[0] == transcript


def test_minilm_is_the_real_sentence_encoder() -> None:
    encoder = load_encoder("minilm", "tiny")
    assert "random" not in encoder.describe()
    guitar, guitar2, stocks = (e[0] for e in run(encoder, [TEXTS[0], "Someone plays an acoustic guitar.", TEXTS[1]]))
    assert guitar.shape == (384,)
    assert float(guitar @ guitar2) > 0.6 > float(guitar @ stocks) + 0.4


@pytest.fixture
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


@pytest.mark.parametrize("name", ["wav2vec2-vad", "vit-h14", "clip-l14", "wavlm-large", "mobilenetv3", "gte-large"])
def test_missing_paper_weights_name_model_and_location(name: str, empty_hf_cache: Path) -> None:
    with pytest.raises(AbawError) as error:
        load_encoder(name, "paper")
    message = str(error.value)
    assert encoder_info(name).model_id in message and str(empty_hf_cache) in message
    assert ("--trust-remote-code" in message) == name.startswith("gte")


def test_missing_whisper_weights_and_bad_weight_dir(tmp_path: Path) -> None:
    with pytest.raises(AbawError, match="large-v3.*" + re.escape(str(tmp_path / "large-v3.pt"))):
        load_encoder("whisper-large-v3", "paper", download_root=tmp_path)
    with pytest.raises(AbawError, match=r"config\.json"):
        load_encoder("vit-h14", "paper", weights=tmp_path / "nothing-here")
    with pytest.raises(AbawError, match="Did you mean 'wav2vec2-vad'"):
        load_encoder("wav2vec2_vad")


def test_wav2vec2_vad_trains_as_transformers_stock_model_without_its_host_syncs() -> None:
    """In training, on clips of unequal length: SpecAugment's time mask is transformers' draw (same NumPy generator,
    same frame lengths) made on the host and applied with torch.where, and the padding mask reaches the attention as a
    4D mask built on the device; the hidden states equal those of transformers' stock Wav2Vec2Model with the same
    weights, dropout draws and mask draw (tests/train/test_host_syncs.py: the step reads nothing on the host)."""
    from transformers.models.wav2vec2.modeling_wav2vec2 import Wav2Vec2Model

    encoder = load_encoder("wav2vec2-vad", "tiny", trainable=True)
    model = encoder.model.train()
    stock = Wav2Vec2Model(model.config).train()
    stock.load_state_dict(model.wav2vec2.state_dict())
    batch = encoder.collate([encoder.prepare(torch.randn(n)) for n in (16_000, 9_000, 12_000)])
    frames = model.frame_lengths(batch["lengths"]).tolist()

    def hidden(seed: int) -> torch.Tensor:
        np.random.seed(seed), torch.manual_seed(0)  # the SpecAugment draw, and the same dropout masks
        return model(batch["input_values"], attention_mask=batch["attention_mask"], frame_lengths=frames)[..., :-3]

    np.random.seed(3), torch.manual_seed(0)
    theirs = stock(batch["input_values"], attention_mask=batch["attention_mask"]).last_hidden_state
    torch.testing.assert_close(hidden(3), theirs)
    assert not torch.allclose(hidden(4), theirs)  # another draw masks other frames: the mask is in effect
    model.eval(), stock.eval()
    with torch.no_grad():
        inputs = {"input_values": batch["input_values"], "attention_mask": batch["attention_mask"]}
        torch.testing.assert_close(model.wav2vec2(**inputs).last_hidden_state, stock(**inputs).last_hidden_state)
