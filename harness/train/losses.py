"""Masked training losses: one pure function per loss, each `(outputs, targets, valid) -> scalar`.

Shapes: `outputs` [B, T, K] (a clip task is T = 1), `targets` [B, T, C] float with no NaN, `valid` [B, T, C] bool.
`valid` is built by the engine from the targets' NaN (padding past a video's end, the task's invalid-label marker,
frames without a face crop) and is per column, because the VA CCC masks each dimension on its own. Every loss is the
mean over the valid elements of the whole batch (the CCC pools each column's valid frames across the batch), so a
masked element changes neither the value nor the gradient. A batch without any valid element gives a zero that is
still connected to the graph (the engine counts such batches in the run's log).

Classification targets hold the class index (C = 1); "bce" targets hold 0/1 and K = 1 logit.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

LossFunction = Callable[[Tensor, Tensor, Tensor], Tensor]
EPSILON = 1e-8


def _masked_mean(values: Tensor, valid: Tensor) -> Tensor:
    """Σ values over `valid` / their count; with no valid element, a zero still connected to the graph.

    Written without a data-dependent branch, so a training step never waits on the device to read a count.
    """
    total = torch.where(valid, values, torch.zeros_like(values)).sum()
    return total / valid.sum().clamp_min(1)


def masked_mse(outputs: Tensor, targets: Tensor, valid: Tensor) -> Tensor:
    """Mean squared error over the valid elements."""
    return _masked_mean((outputs - targets) ** 2, valid)


def masked_bce(outputs: Tensor, targets: Tensor, valid: Tensor) -> Tensor:
    """Binary cross-entropy with logits over the valid elements (targets 0/1)."""
    return _masked_mean(F.binary_cross_entropy_with_logits(outputs, targets, reduction="none"), valid)


def masked_ccc(outputs: Tensor, targets: Tensor, valid: Tensor) -> Tensor:
    """1 − mean over columns of Lin's concordance correlation, each column over its own valid elements of the batch.

    Population moments (Lin 1989), as the VA metric. A column with fewer than two valid elements has no CCC and is
    left out of the mean; with no column left the loss is a graph-connected zero.
    """
    weights = valid.to(outputs.dtype).reshape(-1, valid.shape[-1])
    prediction = outputs.reshape(-1, outputs.shape[-1]) * weights
    target = torch.where(valid, targets, torch.zeros_like(targets)).reshape(-1, targets.shape[-1])
    count = weights.sum(0)
    denominator_count = count.clamp_min(1)
    pred_mean, target_mean = prediction.sum(0) / denominator_count, target.sum(0) / denominator_count
    pred_centred, target_centred = (prediction - pred_mean) * weights, (target - target_mean) * weights
    covariance = (pred_centred * target_centred).sum(0) / denominator_count
    pred_variance = (pred_centred ** 2).sum(0) / denominator_count
    target_variance = (target_centred ** 2).sum(0) / denominator_count
    ccc = 2 * covariance / (pred_variance + target_variance + (pred_mean - target_mean) ** 2).clamp_min(EPSILON)
    usable = (count >= 2).to(outputs.dtype)
    return ((1 - ccc) * usable).sum() / usable.sum().clamp_min(1)


def masked_ce(outputs: Tensor, targets: Tensor, valid: Tensor, *, label_smoothing: float = 0.0,
              focal_gamma: float = 0.0) -> Tensor:
    """Cross-entropy over K classes with optional label smoothing and focal weighting (1 − p_true)^γ.

    With γ > 0 the per-element loss is (1 − p_y)^γ · CE_smoothed, p_y the predicted probability of the true class
    (the focal loss of Lin et al. 2017 applied on top of the smoothed cross-entropy).
    """
    mask = valid[..., 0]
    logits = outputs.reshape(-1, outputs.shape[-1])
    classes = torch.where(mask, targets[..., 0], torch.zeros_like(targets[..., 0])).reshape(-1).long()
    losses = F.cross_entropy(logits, classes, reduction="none", label_smoothing=label_smoothing)
    if focal_gamma > 0:
        p_true = torch.softmax(logits, dim=-1).gather(1, classes[:, None])[:, 0]
        losses = (1 - p_true) ** focal_gamma * losses
    return _masked_mean(losses, mask.reshape(-1))


def masked_soft_f1(outputs: Tensor, targets: Tensor, valid: Tensor) -> Tensor:
    """1 − mean over classes of the soft F1 (softmax probabilities in place of 0/1 predictions), valid frames only.

    Soft counts per class c: TP = Σ p_c·y_c, FP = Σ p_c·(1 − y_c), FN = Σ (1 − p_c)·y_c; F1_c = 2TP / (2TP + FP + FN).
    """
    n_classes = outputs.shape[-1]
    weights = valid[..., 0].reshape(-1, 1).to(outputs.dtype)
    probabilities = torch.softmax(outputs.reshape(-1, n_classes), dim=-1) * weights
    classes = torch.where(valid[..., 0], targets[..., 0], torch.zeros_like(targets[..., 0])).reshape(-1).long()
    one_hot = F.one_hot(classes, n_classes).to(outputs.dtype) * weights
    true_positive = (probabilities * one_hot).sum(0)
    false_positive = (probabilities * (weights - one_hot)).sum(0)
    false_negative = ((weights - probabilities) * one_hot).sum(0)
    soft_f1 = 2 * true_positive / (2 * true_positive + false_positive + false_negative).clamp_min(EPSILON)
    any_valid = (weights.sum() > 0).to(outputs.dtype)
    return (1 - soft_f1.mean()) * any_valid


def mean_denominator(name: str, valid: Tensor) -> Tensor | None:
    """The count a mean-type loss divides by (None for the batch-statistic losses "ccc" and "soft_f1").

    Under DDP the engine rescales each rank's loss by local count · world size / global count, so that the averaged
    gradient is the gradient of the mean over all ranks' valid elements: what one process would compute on the whole
    batch, however unevenly padding and invalid labels fall across the ranks.
    """
    if name in ("mse", "bce"):
        return valid.sum()
    if name == "ce":
        return valid[..., 0].sum()
    return None


def get_loss(name: str, *, label_smoothing: float = 0.0, focal_gamma: float = 0.0) -> LossFunction:
    """The masked loss a system's `Hyper.loss` names (the names are `harness.systems.LOSSES`)."""
    from abaw_bench.harness.errors import unknown_name_error

    losses: dict[str, LossFunction] = {
        "mse": masked_mse,
        "bce": masked_bce,
        "ccc": masked_ccc,
        "ce": partial(masked_ce, label_smoothing=label_smoothing, focal_gamma=focal_gamma),
        "soft_f1": masked_soft_f1,
    }
    if name not in losses:
        raise unknown_name_error("loss", name, losses)
    return losses[name]


def output_transform(name: str) -> Callable[[Tensor], Tensor]:
    """Raw outputs → the prediction scale: logits become probabilities (sigmoid: "bce"; softmax: "ce", "soft_f1")."""
    if name == "bce":
        return torch.sigmoid
    if name in ("ce", "soft_f1"):
        return partial(torch.softmax, dim=-1)
    return lambda outputs: outputs
