"""Torch building blocks of the paper systems' heads (imports torch: only a system's `build_model` imports this).

Every head consumes the model contract's inputs, `{name: (padded [B, T, D] float, lengths [B] long)}`, pools each
input into one vector per item (a branch), concatenates the branches and regresses K outputs with a small MLP. The
pieces are separate so that the paper presets can be checked layer by layer against the authors' dimensions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

Inputs = Mapping[str, tuple[Tensor, Tensor]]


def length_mask(lengths: Tensor, max_length: int) -> Tensor:
    """[B, T] bool, True at the valid (non-padding) steps."""
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]


def masked_mean(padded: Tensor, lengths: Tensor) -> Tensor:
    """Mean over the valid steps of [B, T, D] → [B, D]; padding never dilutes it. An empty sequence gives zeros."""
    mask = length_mask(lengths.to(padded.device), padded.shape[1]).to(padded.dtype)
    total = (padded * mask[:, :, None]).sum(dim=1)
    return total / mask.sum(dim=1).clamp(min=1.0)[:, None]


def fp32_recurrence(device_type: str) -> contextlib.AbstractContextManager:
    """Autocast off, for a recurrence that must run in fp32: every recurrent layer of the systems runs inside it, with
    its inputs passed through `at_least_fp32` (autocast-off leaves a bf16 input bf16).

    Why: under CUDA autocast PyTorch runs cuDNN's packed LSTM and the LSTM/GRU cells in fp16 (their autocast rule),
    and under bf16 the LSTM cells' linear layers in bf16; bf16 training has no GradScaler, so small gradients through
    hundreds of recurrent steps would underflow or lose their precision. The recurrences are a small share of a step's
    time. The one home of this rule (LastValidLSTM, wen2024's LSTMs, MFN's memory, MCTN's decoders).
    """
    if not torch.amp.is_autocast_available(device_type):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, enabled=False)


def at_least_fp32(tensor: Tensor) -> Tensor:
    """A 16-bit float tensor in fp32; fp32 and fp64 unchanged (a float64 reference test stays float64)."""
    return tensor.float() if tensor.is_floating_point() and tensor.element_size() < 4 else tensor


class LastValidLSTM(nn.Module):
    """A unidirectional, batch-first LSTM that returns the top layer's hidden state at each sequence's true last step.

    The LSTM runs over the padded time axis and the state is read at each sequence's last valid step (a gather on
    the device). Being unidirectional, the state at step t depends on steps 0..t only, so the padding after it cannot
    change it: this is exactly what the LSTM gives on the unpadded sequence alone. (Packing would skip the padding's
    compute, but it needs the lengths on the host: a device-to-host sync at every step of a CUDA run.) This corrects
    the original hallmen2025 code, which estimated the last valid index as if every batch had been padded to 12 s of
    audio and therefore read the state too early (before the end of the clip) whenever a batch's longest clip was
    shorter. An empty sequence (length 0) yields a zero vector.

    The LSTM always runs in fp32 (`fp32_recurrence`).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            input_size, hidden_size, num_layers=num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0
        )
        self.output_size = hidden_size

    def forward(self, padded: Tensor, lengths: Tensor) -> Tensor:
        if lengths.device.type == "cpu" and bool((lengths > padded.shape[1]).any()):
            # Checked where the lengths are on the host already; on a GPU the gather below fails on such a length.
            raise ValueError(f"a length exceeds the padded time axis ({int(lengths.max())} > {padded.shape[1]})")
        lengths = lengths.to(padded.device, torch.int64, non_blocking=True)
        with fp32_recurrence(padded.device.type):
            outputs, _ = self.lstm(at_least_fp32(padded))  # [B, T, H]: the top layer's state at every step
        last_step = (lengths.clamp(min=1) - 1)[:, None, None].expand(-1, 1, outputs.shape[-1])
        last = outputs.gather(1, last_step)[:, 0]
        return last.masked_fill((lengths == 0)[:, None], 0.0)


class FusionMLP(nn.Module):
    """Linear(in → hidden) → Tanh → Linear(hidden → out), with optional dropout before each Linear.

    The dropout placement mirrors the audeering regression head the hallmen systems build on (dropout → Linear →
    tanh → dropout → Linear); with `dropout=0` the dropout layers are omitted so the module is exactly the two Linears.
    """

    def __init__(self, in_features: int, hidden_features: int, out_features: int, dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.Linear(in_features, hidden_features), nn.Tanh()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(hidden_features, out_features))
        self.layers = nn.Sequential(*layers)

    def forward(self, features: Tensor) -> Tensor:
        return self.layers(features)


POOLINGS = ("lstm", "mean", "mean+lstm")


@dataclass(frozen=True)
class Branch:
    """How one input becomes a vector: "lstm" (last valid LSTM state), "mean" (masked mean over time; for a [1, D]
    text embedding that is the embedding itself) or "mean+lstm" (concat[mean of the inputs, last LSTM state]: the
    hallmen2024 "global vector"). `lstm_hidden` None means the input width (hallmen's LSTM(1027 → 1027))."""

    input: str
    pooling: str
    lstm_hidden: int | None = None
    lstm_layers: int = 2

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {self.pooling!r}; expected one of {POOLINGS}")


class BranchFusionRegressor(nn.Module):
    """Pools every input with its branch, concatenates the vectors (in branch order) and regresses with a FusionMLP.

    No output activation: the hallmen systems tried a sigmoid and removed it; submissions are clipped afterwards.
    """

    def __init__(
        self,
        branches: Sequence[Branch],
        input_dims: Mapping[str, int],
        fusion_hidden: int,
        outputs: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        missing = [branch.input for branch in branches if branch.input not in input_dims]
        if missing:
            raise ValueError(f"input_dims lacks {missing}; it has {sorted(input_dims)}")
        self.branches = tuple(branches)
        self.lstms = nn.ModuleDict()
        width = 0
        for branch in self.branches:
            dim = input_dims[branch.input]
            if "mean" in branch.pooling:
                width += dim
            if "lstm" in branch.pooling:
                lstm = LastValidLSTM(dim, branch.lstm_hidden or dim, branch.lstm_layers, dropout)
                self.lstms[branch.input] = lstm
                width += lstm.output_size
        self.fused_width = width
        self.fusion = FusionMLP(width, fusion_hidden, outputs, dropout)

    def forward(self, inputs: Inputs) -> Tensor:
        vectors: list[Tensor] = []
        for branch in self.branches:
            padded, lengths = inputs[branch.input]
            if "mean" in branch.pooling:
                vectors.append(masked_mean(padded, lengths))
            if "lstm" in branch.pooling:
                vectors.append(self.lstms[branch.input](padded, lengths))
        return self.fusion(torch.cat(vectors, dim=1))


class ConstantRegressor(nn.Module):
    """Predicts one fixed row for every item: the floor every system must beat.

    The row is a buffer, not a parameter (nothing to train); the engine sets it to the training labels' column means
    through `init_from_train_labels` (see harness/systems.py). `reference_input` only supplies the batch size.
    """

    def __init__(self, outputs: int, reference_input: str) -> None:
        super().__init__()
        self.reference_input = reference_input
        self.register_buffer("constant", torch.zeros(outputs))

    def init_from_train_labels(self, labels: Tensor) -> None:
        if labels.ndim != 2 or labels.shape[1] != self.constant.shape[0] or labels.shape[0] == 0:
            raise ValueError(f"expected train labels [N>0, {self.constant.shape[0]}], got {tuple(labels.shape)}")
        self.constant.copy_(labels.to(self.constant).mean(dim=0))

    def forward(self, inputs: Inputs) -> Tensor:
        padded, _ = inputs[self.reference_input]
        return self.constant.expand(padded.shape[0], -1).clone()


class FrameHead(nn.Module):
    """A per-frame head: Linear(D → hidden) → ReLU → [Dropout] → Linear(hidden → K) applied to every frame of one
    input, so the output is [B, L, K] for windows of L frames (padding frames are computed and masked by the loss).
    With `dropout=0` the Dropout layer is omitted, as in FusionMLP."""

    def __init__(self, in_features: int, hidden: int, outputs: int, input_name: str, dropout: float = 0.0) -> None:
        super().__init__()
        self.input_name = input_name
        layers: list[nn.Module] = [nn.Linear(in_features, hidden), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        self.layers = nn.Sequential(*layers, nn.Linear(hidden, outputs))

    def forward(self, inputs: Inputs) -> Tensor:
        padded, _ = inputs[self.input_name]
        return self.layers(padded)


class FrameConstant(nn.Module):
    """The frame-level floor: one fixed output row for every frame, fitted once from the training frames' labels.

    "regression": the labels' column means over valid frames (NaN = invalid). "classes": the majority class, as logits
    (±10 for a single binary logit, 10 at the class for several), so that the prediction is that class. The row is a
    buffer (nothing to train; the system sets epochs to 0).
    """

    def __init__(self, outputs: int, reference_input: str, kind: str) -> None:
        super().__init__()
        if kind not in ("regression", "classes"):
            raise ValueError(f"kind {kind!r}: expected 'regression' or 'classes'")
        self.reference_input, self.kind = reference_input, kind
        self.register_buffer("constant", torch.zeros(outputs))

    def init_from_train_labels(self, labels: Tensor) -> None:
        labels = labels.to(torch.float64)
        if self.kind == "regression":
            means = torch.nanmean(labels, dim=0)
            if bool(torch.isnan(means).any()):
                raise ValueError("a label column has no valid training frame")
            self.constant.copy_(means.to(self.constant))
            return
        classes = labels[:, 0][~torch.isnan(labels[:, 0])].long()
        if classes.numel() == 0:
            raise ValueError("no valid training frame to take the majority class from")
        majority = int(torch.bincount(classes).argmax())
        if self.constant.numel() == 1:
            self.constant.fill_(10.0 if majority == 1 else -10.0)
        else:
            self.constant.zero_()
            self.constant[majority] = 10.0

    def forward(self, inputs: Inputs) -> Tensor:
        padded, _ = inputs[self.reference_input]
        return self.constant.expand(padded.shape[0], padded.shape[1], -1).clone()
