"""The LSTM heads run in fp32 under low-precision autocast: bf16 training has no GradScaler, so an LSTM running in
a 16-bit type (fp16 for cuDNN's packed LSTM under CUDA autocast, bf16 here on the CPU) would lose gradients."""

from __future__ import annotations

import torch
from abaw_bench.harness.heads import LastValidLSTM


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
