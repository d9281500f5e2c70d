"""The challenge baselines: mean-pooled provided features → MLP, and the constant-mean floor."""

from __future__ import annotations

import pytest
import torch
from abaw_bench.harness.systems import get_system
from abaw_bench.systems._heads import masked_mean

DIMS = {"provided:vit": 384, "provided:wav2vec2": 768}


def _inputs(lengths: list[int]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    return {
        name: (torch.randn(len(lengths), max(lengths), dim, generator=generator), torch.tensor(lengths))
        for name, dim in DIMS.items()
    }


def test_multimodal_baseline_regresses_the_concatenated_time_means() -> None:
    spec = get_system("baseline")
    variant = spec.variant("emi", "multimodal")
    model = spec.build_model("emi", variant, DIMS,
                             spec.knobs_for("emi", variant, "paper"), spec.hyper_for("emi", variant)).eval()
    inputs = _inputs([4, 2, 3])
    pooled = torch.cat([masked_mean(*inputs["provided:vit"]), masked_mean(*inputs["provided:wav2vec2"])], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(model(inputs), model.fusion(pooled))


def test_constant_mean_predicts_the_train_label_mean_and_has_nothing_to_train() -> None:
    spec = get_system("baseline")
    variant = spec.variant("emi", "constant-mean")
    assert spec.hyper_for("emi", variant).epochs == 0
    model = spec.build_model("emi", variant, {"provided:vit": 384},
                             spec.knobs_for("emi", variant, "tiny"), spec.hyper_for("emi", variant))
    assert sum(parameter.numel() for parameter in model.parameters()) == 0
    labels = torch.rand(50, 6)
    model.init_from_train_labels(labels)
    predictions = model(_inputs([5, 1, 2]))
    assert predictions.shape == (3, 6)
    torch.testing.assert_close(predictions, labels.mean(dim=0).expand(3, -1))
    state = model.state_dict()  # the constant travels with the checkpoint
    rebuilt = spec.build_model("emi", variant, {"provided:vit": 384},
                               spec.knobs_for("emi", variant, "tiny"), spec.hyper_for("emi", variant))
    rebuilt.load_state_dict(state)
    torch.testing.assert_close(rebuilt(_inputs([1])), labels.mean(dim=0)[None])
    with pytest.raises(ValueError, match="train labels"):
        model.init_from_train_labels(torch.rand(4, 5))


def test_demo_feature_pickles_load_through_the_restricted_unpickler(demo_root) -> None:
    from abaw_bench.harness import safepickle

    root = demo_root("emi")
    for kind, dim in (("vit", 384), ("wav2vec2", 768)):
        paths = sorted((root / kind).glob("*.pkl"))[:5] or sorted(root.rglob(f"{kind}/*.pkl"))[:5]
        assert paths, f"the EMI demo has no {kind} pickles"
        for path in paths:
            features = safepickle.load_features(path)
            assert features.ndim == 2 and features.shape[1] == dim
