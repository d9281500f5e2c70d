"""Masked training losses: one pure function per loss, each `(outputs, targets, valid) -> scalar`.

Shapes: `outputs` [B, T, K] (a clip task is T = 1), `targets` [B, T, C] float with no NaN, `valid` [B, T, C] bool.
`valid` is built by the engine from the targets' NaN (padding past a video's end, the task's invalid-label marker,
frames without a face crop) and is per column, because the VA CCC masks each dimension on its own. Every loss is the
mean over the valid elements of the whole batch (the CCC, by default, pools each column's valid frames across the
batch; `ccc_granularity="window"` computes it per window instead), so a masked element changes neither the value nor
the gradient. A batch without any valid element gives a zero that is still connected to the graph (the engine counts
such batches in the run's log).

The options a loss takes are Hyper fields of the same names (LOSS_OPTIONS); the engine hands every one to `get_loss`.

Classification targets hold the class index (C = 1); "bce" targets hold 0/1 and K = 1 logit.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from abaw_bench.harness.systems import CCC_GRANULARITIES, CCC_REDUCTIONS
from torch import Tensor

LossFunction = Callable[[Tensor, Tensor, Tensor], Tensor]
EPSILON = 1e-8
LOSS_OPTIONS = ("label_smoothing", "focal_gamma", "focal_alpha", "distillation_weight", "ccc_granularity",
                "ccc_reduction")


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


def _window_ccc(outputs: Tensor, targets: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
    """Lin's CCC of every window and column over that window's valid frames, [W, C], population moments (Lin 1989,
    as the VA metric), and whether it exists ([W, C]: at least two valid frames)."""
    weights = valid.to(outputs.dtype)
    prediction = outputs * weights
    target = torch.where(valid, targets, torch.zeros_like(targets))
    count = weights.sum(1, keepdim=True)
    denominator_count = count.clamp_min(1)
    pred_mean, target_mean = prediction.sum(1, keepdim=True) / denominator_count, \
        target.sum(1, keepdim=True) / denominator_count
    pred_centred, target_centred = (prediction - pred_mean) * weights, (target - target_mean) * weights
    covariance = (pred_centred * target_centred).sum(1) / denominator_count[:, 0]
    pred_variance = (pred_centred ** 2).sum(1) / denominator_count[:, 0]
    target_variance = (target_centred ** 2).sum(1) / denominator_count[:, 0]
    squared_bias = ((pred_mean - target_mean) ** 2)[:, 0]
    ccc = 2 * covariance / (pred_variance + target_variance + squared_bias).clamp_min(EPSILON)
    return ccc, count[:, 0] >= 2


def masked_ccc(outputs: Tensor, targets: Tensor, valid: Tensor, *, granularity: str = "batch",
               reduction: str = "mean") -> Tensor:
    """1 − Lin's concordance correlation per column, each column over its own valid frames.

    `granularity`: "batch" pools each column's valid frames over the whole batch into one CCC; "window" computes a
    CCC per window (item of the batch) and column and averages it over the windows, each window counting once (the
    authors' loss in wen2024). `reduction`: "mean" gives 1 − mean over columns of the CCC; "sum" gives
    Σ_columns (1 − CCC), i.e. 2 − (CCC_valence + CCC_arousal) for VA (wen2024's code), which doubles the CCC term's
    weight against any auxiliary loss. A column (or window) with fewer than two valid frames has no CCC and is left
    out; with no column left the loss is a graph-connected zero.
    """
    if granularity not in CCC_GRANULARITIES or reduction not in CCC_REDUCTIONS:
        raise ValueError(f"ccc granularity {granularity!r} / reduction {reduction!r}: expected one of "
                         f"{', '.join(CCC_GRANULARITIES)} / {', '.join(CCC_REDUCTIONS)}")
    columns = outputs.shape[-1]
    if granularity == "batch":  # the whole batch as one window
        outputs, targets, valid = (x.reshape(1, -1, columns) for x in (outputs, targets, valid))
    else:
        outputs, targets, valid = (x.reshape(x.shape[0], -1, columns) for x in (outputs, targets, valid))
    ccc, exists = _window_ccc(outputs, targets, valid)
    exists = exists.to(outputs.dtype)
    windows = exists.sum(0)  # per column: the windows that have a CCC
    column_ccc = (ccc * exists).sum(0) / windows.clamp_min(1)
    usable = (windows > 0).to(outputs.dtype)
    total = ((1 - column_ccc) * usable).sum()
    return total / usable.sum().clamp_min(1) if reduction == "mean" else total


def masked_ce(outputs: Tensor, targets: Tensor, valid: Tensor, *, label_smoothing: float = 0.0,
              focal_gamma: float = 0.0, focal_alpha: float = 1.0, distillation_weight: float = 0.0) -> Tensor:
    """Cross-entropy over K classes with optional label smoothing ε, focal weighting and a smoothed-target KL term.

    Per valid element: (1 − w) · α · (1 − p_y)^γ · CE_ε + w · KL(q_ε ‖ p), where p is the softmax, p_y its value at
    the true class, CE_ε the cross-entropy against the smoothed target q_ε = (1 − ε)·one_hot + ε/K, α a constant
    weight and w = `distillation_weight`. With the defaults (γ 0, α 1, w 0) it is the plain smoothed cross-entropy;
    γ > 0 is the focal loss of Lin et al. 2017 on top of it. wen2024's expression code (its CEFocalLoss) uses
    ε 0.1, γ 2, α 0.9, w 0.2.
    """
    mask = valid[..., 0]
    logits = outputs.reshape(-1, outputs.shape[-1])
    classes = torch.where(mask, targets[..., 0], torch.zeros_like(targets[..., 0])).reshape(-1).long()
    losses = F.cross_entropy(logits, classes, reduction="none", label_smoothing=label_smoothing)
    if focal_gamma > 0:
        p_true = torch.softmax(logits, dim=-1).gather(1, classes[:, None])[:, 0]
        losses = (1 - p_true) ** focal_gamma * losses
    losses = focal_alpha * losses
    if distillation_weight > 0:
        n_classes = logits.shape[-1]
        smoothed = F.one_hot(classes, n_classes).to(logits.dtype) * (1 - label_smoothing) + label_smoothing / n_classes
        divergence = F.kl_div(torch.log_softmax(logits, dim=-1), smoothed, reduction="none").sum(-1)
        losses = (1 - distillation_weight) * losses + distillation_weight * divergence
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


def get_loss(name: str, *, label_smoothing: float = 0.0, focal_gamma: float = 0.0, focal_alpha: float = 1.0,
             distillation_weight: float = 0.0, ccc_granularity: str = "batch",
             ccc_reduction: str = "mean") -> LossFunction:
    """The masked loss a system's `Hyper.loss` names (the names are `harness.systems.LOSSES`), with its options (the
    Hyper fields in LOSS_OPTIONS; each loss reads its own)."""
    from abaw_bench.harness.errors import unknown_name_error

    losses: dict[str, LossFunction] = {
        "mse": masked_mse,
        "bce": masked_bce,
        "ccc": partial(masked_ccc, granularity=ccc_granularity, reduction=ccc_reduction),
        "ce": partial(masked_ce, label_smoothing=label_smoothing, focal_gamma=focal_gamma, focal_alpha=focal_alpha,
                      distillation_weight=distillation_weight),
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
