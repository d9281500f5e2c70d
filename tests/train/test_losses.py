"""Masked losses: values against float64 formulas on the valid elements, gradients against finite differences, and
masking that really masks (a masked label changes neither the loss nor the gradient)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from abaw_bench.harness.train.losses import (
    get_loss,
    masked_bce,
    masked_ccc,
    masked_ce,
    masked_mse,
    masked_soft_f1,
)

B, T = 3, 5


def _batch(loss: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    if loss in ("ce", "soft_f1"):
        outputs = rng.normal(size=(B, T, 4))
        targets = rng.integers(0, 4, size=(B, T, 1)).astype(np.float64)
        valid = rng.random((B, T, 1)) > 0.3
    elif loss == "bce":
        outputs = rng.normal(size=(B, T, 1))
        targets = rng.integers(0, 2, size=(B, T, 1)).astype(np.float64)
        valid = rng.random((B, T, 1)) > 0.3
    else:
        outputs = rng.normal(size=(B, T, 2))
        targets = rng.normal(size=(B, T, 2))
        valid = rng.random((B, T, 2)) > 0.3
    return (torch.tensor(outputs, requires_grad=True), torch.tensor(targets), torch.tensor(valid))


def _reference(loss: str, outputs: np.ndarray, targets: np.ndarray, valid: np.ndarray) -> float:
    """The loss written out in float64 numpy over the valid elements only."""
    if loss == "mse":
        return float(((outputs - targets) ** 2)[valid].mean())
    if loss == "bce":
        x, y = outputs[valid], targets[valid]
        p = 1 / (1 + np.exp(-x))
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
    if loss == "ccc":
        cccs = []
        for column in range(targets.shape[-1]):
            x, y = outputs[..., column][valid[..., column]], targets[..., column][valid[..., column]]
            covariance = np.mean((x - x.mean()) * (y - y.mean()))
            cccs.append(2 * covariance / (x.var() + y.var() + (x.mean() - y.mean()) ** 2))
        return float(1 - np.mean(cccs))
    mask = valid[..., 0]
    logits, classes = outputs[mask], targets[..., 0][mask].astype(int)
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    if loss == "ce":
        return float(-np.log(probabilities[np.arange(len(classes)), classes]).mean())
    one_hot = np.eye(logits.shape[-1])[classes]
    tp = (probabilities * one_hot).sum(0)
    fp = (probabilities * (1 - one_hot)).sum(0)
    fn = ((1 - probabilities) * one_hot).sum(0)
    return float(1 - np.mean(2 * tp / (2 * tp + fp + fn)))


@pytest.mark.parametrize("name", ["mse", "bce", "ccc", "ce", "soft_f1"])
def test_value_matches_the_float64_formula(name: str) -> None:
    outputs, targets, valid = _batch(name)
    value = get_loss(name)(outputs, targets, valid)
    expected = _reference(name, outputs.detach().numpy(), targets.numpy(), valid.numpy())
    assert float(value.detach()) == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("name", ["mse", "bce", "ccc", "ce", "soft_f1"])
def test_gradient_matches_finite_differences(name: str) -> None:
    outputs, targets, valid = _batch(name, seed=1)
    loss = get_loss(name)
    assert torch.autograd.gradcheck(lambda o: loss(o, targets, valid), (outputs,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", ["mse", "bce", "ccc", "ce", "soft_f1"])
def test_a_masked_label_changes_neither_loss_nor_gradient(name: str) -> None:
    outputs, targets, valid = _batch(name, seed=2)
    loss = get_loss(name)
    first = loss(outputs, targets, valid)
    (first_grad,) = torch.autograd.grad(first, outputs)
    changed = targets.clone()
    changed[~valid] = 1.0 if name in ("bce", "ce", "soft_f1") else 123.0  # other (still legal) labels where masked
    second = loss(outputs, changed, valid)
    (second_grad,) = torch.autograd.grad(second, outputs)
    assert first.detach().item() == second.detach().item()
    assert torch.equal(first_grad, second_grad)
    assert float(first_grad[~valid.expand_as(first_grad)].abs().sum()) == 0.0  # masked outputs get no gradient


@pytest.mark.parametrize("name", ["mse", "bce", "ccc", "ce", "soft_f1"])
def test_a_batch_without_valid_elements_is_a_connected_zero(name: str) -> None:
    outputs, targets, valid = _batch(name, seed=3)
    value = get_loss(name)(outputs, targets, torch.zeros_like(valid))
    assert value.detach().item() == 0.0
    value.backward()
    assert outputs.grad is not None and float(outputs.grad.abs().sum()) == 0.0


def test_padding_invariance_and_clip_equivalence() -> None:
    """Appending padded frames (invalid) leaves every loss unchanged; T = 1 with all valid is the plain loss."""
    for name, function in (("mse", masked_mse), ("bce", masked_bce), ("ccc", masked_ccc), ("ce", masked_ce),
                           ("soft_f1", masked_soft_f1)):
        outputs, targets, valid = _batch(name, seed=4)
        outputs = outputs.detach()  # values only here
        padded_outputs = torch.cat([outputs, torch.randn(B, 2, outputs.shape[-1], dtype=outputs.dtype)], dim=1)
        padded_targets = torch.cat([targets, torch.zeros(B, 2, targets.shape[-1], dtype=targets.dtype)], dim=1)
        padded_valid = torch.cat([valid, torch.zeros(B, 2, valid.shape[-1], dtype=torch.bool)], dim=1)
        assert float(function(padded_outputs, padded_targets, padded_valid)) == pytest.approx(
            float(function(outputs, targets, valid)), abs=1e-12), name
    outputs = torch.randn(6, 1, 3, dtype=torch.float64)
    targets = torch.randn(6, 1, 3, dtype=torch.float64)
    assert float(masked_mse(outputs, targets, torch.ones_like(targets, dtype=torch.bool))) == pytest.approx(
        float(torch.nn.functional.mse_loss(outputs, targets)), abs=1e-12)


def test_cross_entropy_smoothing_and_focal_reduce_to_torch() -> None:
    outputs, targets, valid = _batch("ce", seed=5)
    outputs = outputs.detach()  # values only here
    mask = valid[..., 0]
    logits, classes = outputs[mask], targets[..., 0][mask].long()
    smoothed = torch.nn.functional.cross_entropy(logits, classes, label_smoothing=0.1)
    assert float(masked_ce(outputs, targets, valid, label_smoothing=0.1)) == pytest.approx(float(smoothed), abs=1e-12)
    p_true = torch.softmax(logits, -1).gather(1, classes[:, None])[:, 0]
    focal = ((1 - p_true) ** 2 * torch.nn.functional.cross_entropy(logits, classes, reduction="none")).mean()
    assert float(masked_ce(outputs, targets, valid, focal_gamma=2.0)) == pytest.approx(float(focal), abs=1e-12)


def _ccc64(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's CCC with population moments, float64."""
    covariance = np.mean((x - x.mean()) * (y - y.mean()))
    return float(2 * covariance / (x.var() + y.var() + (x.mean() - y.mean()) ** 2))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_ccc_per_window_matches_the_float64_formula(reduction: str) -> None:
    """"window": a CCC per window and column over its valid frames, averaged over the windows (each counting once);
    "sum" is Σ_columns (1 − mean CCC): wen2024's 2 − (CCC_v + CCC_a). A window with < 2 valid frames in a column is
    left out of that column's average."""
    rng = np.random.default_rng(7)
    outputs, targets = rng.normal(size=(4, 9, 2)), rng.normal(size=(4, 9, 2))
    valid = rng.random((4, 9, 2)) > 0.25
    valid[2, :, 1] = False
    valid[2, 3, 1] = True  # one valid frame: no CCC for window 2, column 1
    per_column = []
    for column in range(2):
        cccs = [_ccc64(outputs[w, valid[w, :, column], column], targets[w, valid[w, :, column], column])
                for w in range(4) if valid[w, :, column].sum() >= 2]
        per_column.append(1 - np.mean(cccs))
    expected = float(np.sum(per_column) if reduction == "sum" else np.mean(per_column))
    value = get_loss("ccc", ccc_granularity="window", ccc_reduction=reduction)(
        torch.tensor(outputs), torch.tensor(targets), torch.tensor(valid))
    assert float(value) == pytest.approx(expected, abs=1e-12)
    pooled = get_loss("ccc", ccc_reduction=reduction)(torch.tensor(outputs), torch.tensor(targets),
                                                      torch.tensor(valid))
    assert float(pooled) != pytest.approx(expected, abs=1e-6)  # the granularity changes the value


def test_window_ccc_gradient_matches_finite_differences() -> None:
    outputs, targets, valid = _batch("ccc", seed=8)
    loss = get_loss("ccc", ccc_granularity="window", ccc_reduction="sum")
    assert torch.autograd.gradcheck(lambda x: loss(x, targets, valid), (outputs,))


def test_hyper_declares_the_loss_options_with_their_ranges() -> None:
    from abaw_bench.harness.systems import Hyper
    from abaw_bench.harness.train.losses import LOSS_OPTIONS

    assert set(LOSS_OPTIONS) <= set(Hyper.__dataclass_fields__)
    for bad in ({"ccc_granularity": "video"}, {"ccc_reduction": "max"}, {"distillation_weight": 1.5},
                {"label_smoothing": 1.0}, {"focal_alpha": 0.0}, {"focal_gamma": -1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Hyper(**bad)


def test_focal_cross_entropy_with_smoothed_kl_matches_the_float64_formula() -> None:
    """wen2024's expression loss (ε 0.1, γ 2, α 0.9, w 0.2): (1 − w)·α·(1 − p_y)^γ·CE_ε + w·KL(q_ε ‖ p)."""
    outputs, targets, valid = _batch("ce", seed=9)
    epsilon, gamma, alpha, weight = 0.1, 2.0, 0.9, 0.2
    mask = valid.numpy()[..., 0]
    logits, classes = outputs.detach().numpy()[mask], targets.numpy()[..., 0][mask].astype(int)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    smoothed = np.eye(4)[classes] * (1 - epsilon) + epsilon / 4
    cross_entropy = -(smoothed * log_p).sum(-1)
    p_true = np.exp(log_p[np.arange(len(classes)), classes])
    divergence = (smoothed * (np.log(smoothed) - log_p)).sum(-1)
    expected = float(((1 - weight) * alpha * (1 - p_true) ** gamma * cross_entropy + weight * divergence).mean())
    loss = get_loss("ce", label_smoothing=epsilon, focal_gamma=gamma, focal_alpha=alpha, distillation_weight=weight)
    assert float(loss(outputs, targets, valid).detach()) == pytest.approx(expected, abs=1e-12)
