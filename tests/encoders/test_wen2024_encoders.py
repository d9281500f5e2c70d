"""The encoders wen2024's rows name: the timm backbones' published architectures, their strict checkpoint loading,
and the WavLM pooling the paper describes. (Every encoder's tiny save → reload round trip is in test_encoders.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from abaw_bench.harness.encoders import build_random, encoder_info, load_encoder, save_checkpoint
from abaw_bench.harness.errors import AbawError

RNG = np.random.default_rng(1)
FACES = [RNG.integers(0, 256, (70, 60, 3), dtype=np.uint8) for _ in range(3)]

# Parameters of the published timm models without their 1000-class classifier (timm's totals minus the Linear):
# resnet50 25,557,032; seresnet50 28,088,024; efficientnetv2_rw_t 13,649,388 (1024 → 1000);
# mobilenetv3_large_100 5,483,032 (1280 → 1000); eva02_large_patch14_224 has no classifier in its MIM checkpoint.
PAPER_BACKBONES = {
    "resnet50": (2048, 25_557_032 - (2048 * 1000 + 1000)),
    "seresnet50": (2048, 28_088_024 - (2048 * 1000 + 1000)),
    "efficientnetv2": (1024, 13_649_388 - (1024 * 1000 + 1000)),
    "mobilenetv3": (1280, 5_483_032 - (1280 * 1000 + 1000)),
}


@pytest.mark.parametrize("name", sorted(PAPER_BACKBONES))
def test_paper_backbones_are_the_published_timm_models(name: str) -> None:
    width, parameters = PAPER_BACKBONES[name]
    encoder = build_random(name, "paper", device="meta")
    assert encoder.output_dim == width == encoder_info(name).output_dims["paper"]
    assert sum(p.numel() for p in encoder.model.parameters()) == parameters


def test_eva02_large_paper_preset_is_the_large_vit() -> None:
    model = build_random("eva02-large", "paper", device="meta").model
    assert (model.embed_dim, len(model.blocks), model.patch_embed.patch_size) == (1024, 24, (14, 14))
    assert model.patch_embed.img_size == (224, 224)


@pytest.mark.parametrize("name", ["mobilenetv3", "efficientnetv2"])
def test_expression_backbones_see_112_pixel_crops(name: str) -> None:
    """The paper's 112 px; the tiny EfficientNetV2 reads the demo's 48 px crops at their own size (at 112 px its tiny
    test network barely learned the demo's expression patches in a test's budget)."""
    tiny = {"mobilenetv3": 112, "efficientnetv2": 48}[name]
    for preset, size in (("paper", 112), ("tiny", tiny)):
        encoder = build_random(name, preset, device="meta")
        assert tuple(encoder.prepare(FACES).shape[1:3]) == (size, size), preset


def test_wavlm_sums_the_last_four_layers_of_each_10_second_chunk() -> None:
    encoder = load_encoder("wavlm-large", "tiny")
    wave = (0.1 * RNG.standard_normal(161_600)).astype(np.float32)  # 10.1 s: a full chunk and 0.1 s
    with torch.no_grad():
        features = encoder.forward(encoder.collate([encoder.prepare(wave)]))[0]
        expected = []
        for chunk in (wave[:160000], wave[160000:]):
            hidden = encoder.model(torch.from_numpy(chunk)[None], output_hidden_states=True).hidden_states
            expected.append(torch.stack(hidden[-4:]).sum(dim=0)[0])
    assert features.shape == (499 + 4, 32)  # frames of 10 s and of 0.1 s (400-sample window, 320 hop)
    torch.testing.assert_close(features, torch.cat(expected), rtol=1e-4, atol=1e-4)


@pytest.fixture
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


@pytest.mark.parametrize("name", ["resnet50", "seresnet50", "efficientnetv2", "eva02-large"])
def test_missing_paper_weights_name_model_and_location(name: str, empty_hf_cache: Path) -> None:
    with pytest.raises(AbawError) as error:
        load_encoder(name, "paper")
    assert encoder_info(name).model_id in str(error.value) and str(empty_hf_cache) in str(error.value)
    assert "--weights" in str(error.value)


def test_face_weights_are_documented_where_info_shows_them() -> None:
    for name in ("resnet50", "seresnet50"):
        description = encoder_info(name).description
        assert "MERBench" in description and "--weights" in description


def test_checkpoint_of_another_architecture_is_rejected(tmp_path: Path) -> None:
    saved = save_checkpoint(load_encoder("resnet50", "tiny"), tmp_path / "resnet")
    with pytest.raises(AbawError, match=r"'resnet50'.*'seresnet50'"):
        load_encoder("seresnet50", "tiny", weights=saved)
    (saved / "config.json").unlink()  # without its config the weights are read as the preset's architecture
    with pytest.raises(AbawError, match=r"not a seresnet50 checkpoint.*missing \(e\.g\. .*se\."):
        load_encoder("seresnet50", "tiny", weights=saved / "model.safetensors")


def test_normalisation_comes_from_the_checkpoint_config(tmp_path: Path) -> None:
    encoder = load_encoder("resnet50", "tiny")
    plain, face = save_checkpoint(encoder, tmp_path / "plain"), save_checkpoint(encoder, tmp_path / "face")
    config = json.loads((face / "config.json").read_text())
    assert config["pretrained_cfg"] == {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    config["pretrained_cfg"] = {"mean": [0.514, 0.407, 0.359], "std": [1 / 255] * 3}  # a Caffe-style face network
    (face / "config.json").write_text(json.dumps(config))
    imagenet, caffe = load_encoder("resnet50", "tiny", weights=plain), load_encoder("resnet50", "tiny", weights=face)
    assert caffe.cache_params()["mean"] == (0.514, 0.407, 0.359)
    assert caffe.fingerprint() != imagenet.fingerprint()
    with torch.no_grad():
        outputs = [e.forward(e.collate([e.prepare(FACES)]))[0] for e in (imagenet, caffe)]
    assert not torch.allclose(*outputs)
    config["pretrained_cfg"]["std"] = "wide"
    (face / "config.json").write_text(json.dumps(config))
    with pytest.raises(AbawError, match=r"pretrained_cfg\.std must be 3 numbers"):
        load_encoder("resnet50", "tiny", weights=face)


def test_corrupt_checkpoint_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(AbawError, match="not a readable checkpoint of encoder"):
        load_encoder("efficientnetv2", "tiny", weights=tmp_path)
