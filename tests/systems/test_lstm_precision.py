"""Every recurrent layer of every system runs in fp32 under low-precision autocast (systems._heads.fp32_recurrence):
bf16 training has no GradScaler, so an LSTM running in a 16-bit type (fp16 for cuDNN's packed LSTM under CUDA
autocast, bf16 here on the CPU) would lose gradients."""

from __future__ import annotations

import pytest
import torch
from abaw_bench.harness.cli.info import input_dims
from abaw_bench.harness.systems import SYSTEMS
from abaw_bench.systems._heads import LastValidLSTM
from torch import nn
from torch.nn.utils.rnn import PackedSequence


def test_the_lstm_head_runs_in_fp32_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    head = LastValidLSTM(12, 10, 2)
    values = torch.randn(4, 9, 12).to(torch.bfloat16)  # an encoder's output under autocast
    lengths = torch.tensor([9, 4, 7, 1])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bare = head.lstm(values)[0]
        mixed = head(values, lengths)
    assert bare.dtype == torch.bfloat16  # what the LSTM alone does under autocast
    assert mixed.dtype == torch.float32
    mixed.sum().backward()
    gradients = [parameter.grad.clone() for parameter in head.parameters()]
    head.zero_grad()
    reference = head(values.float(), lengths)  # no autocast: fp32 throughout
    reference.sum().backward()
    assert torch.equal(mixed, reference)
    for mixed_grad, parameter in zip(gradients, head.parameters(), strict=True):
        assert torch.equal(mixed_grad, parameter.grad)


ROWS = [(name, task, variant) for name, spec in SYSTEMS for task in spec.tasks for variant in spec.variants[task]]


@pytest.mark.parametrize(("system", "task", "variant_name"), ROWS)
def test_every_recurrent_layer_runs_in_fp32_under_bf16_autocast(system: str, task: str, variant_name: str) -> None:
    """Every system's every recurrent module (LSTM, LSTM cell, GRU, …), in training mode (MCTN's decoders run), sees
    fp32 inputs with autocast off while the rest of the step runs under CPU bf16 autocast."""
    spec = SYSTEMS.get(system)
    variant = spec.variant(task, variant_name)
    torch.manual_seed(0)
    dims = input_dims(spec, task, variant.inputs, "tiny")
    model = spec.build_model(task, variant, dims,
                             spec.knobs_for(task, variant, "tiny"), spec.hyper_for(task, variant)).train()
    recurrent = [module for module in model.modules() if isinstance(module, nn.RNNBase | nn.RNNCellBase)]
    seen: list[tuple[bool, set[torch.dtype]]] = []

    def record(module: nn.Module, args: tuple) -> None:
        tensors = [arg.data if isinstance(arg, PackedSequence) else arg for arg in args]
        dtypes = {tensor.dtype for tensor in tensors if isinstance(tensor, torch.Tensor) and tensor.is_floating_point()}
        seen.append((torch.is_autocast_enabled("cpu"), dtypes))

    for module in recurrent:
        module.register_forward_pre_hook(record)
    lengths = torch.tensor([5, 3])
    inputs = {name: (torch.randn(2, 5, dim), lengths) for name, dim in dims.items()}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(inputs)
    assert len(seen) >= len(recurrent)  # every recurrent module ran at least once
    assert all(not autocast and dtypes == {torch.float32} for autocast, dtypes in seen), seen[:3]
