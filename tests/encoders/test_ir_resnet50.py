"""The BAH dataset authors' IR-ResNet-50 face model (harness/encoders/_ir_resnet50.py): their checkpoint layout loads,
a foreign one is refused with a message, and the paper preset has their architecture's size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from abaw_bench.harness.encoders import build_random, load_encoder
from abaw_bench.harness.errors import AbawError

FACES = [np.random.default_rng(0).integers(0, 255, (56, 48, 3), dtype=np.uint8) for _ in range(3)]


def _embed(encoder) -> torch.Tensor:
    with torch.no_grad():
        return encoder.forward(encoder.collate([encoder.prepare(FACES)]))[0]


def test_the_authors_checkpoint_layout_loads(tmp_path: Path) -> None:
    """Their .pth is their VisualBackbone's state dict: `backbone.` + the face model, `logits.` the classifier."""
    random = load_encoder("ir-resnet50", "tiny")
    state = {f"backbone.{key}": value for key, value in random.model.state_dict().items()}
    state |= {"logits.weight": torch.zeros(8, 64), "logits.bias": torch.zeros(8)}
    torch.save(state, tmp_path / "res50_ir.pth")
    loaded = load_encoder("ir-resnet50", "tiny", weights=tmp_path / "res50_ir.pth")
    embeddings = _embed(loaded)
    torch.testing.assert_close(embeddings, _embed(random), rtol=0, atol=0)
    assert embeddings.shape == (3, 64)
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(3))  # L2-normalised, as their Backbone returns


def test_a_foreign_checkpoint_or_none_is_a_clear_error(tmp_path: Path) -> None:
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(AbawError, match=r"is not a checkpoint of ir-resnet50 \[tiny\]"):
        load_encoder("ir-resnet50", "tiny", weights=tmp_path / "other.pth")
    with pytest.raises(AbawError, match=r"res50_ir_0\.887\.pth"):
        load_encoder("ir-resnet50", "paper")


def test_paper_preset_is_their_ir50_on_40px_crops() -> None:
    model = build_random("ir-resnet50", "paper", device="meta").model
    assert len(model.body) == 24 and model.output_layer[3].in_features == 512 * 5 * 5
    # ArcFace's IR-50 on 112 px crops has ~43.6 M parameters, 12.85 M of them in Linear(512·7·7 → 512); at 40 px the
    # output Linear is 512·5·5 → 512 (6.55 M), 6.27 M fewer.
    assert sum(parameter.numel() for parameter in model.parameters()) == 37_283_520
