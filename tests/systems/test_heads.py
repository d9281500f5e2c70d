"""The head building blocks: the true last valid LSTM state, masked pooling, the fusion MLP."""

from __future__ import annotations

import pytest
import torch
from abaw_bench.systems._heads import Branch, BranchFusionRegressor, FusionMLP, LastValidLSTM, masked_mean
from torch import nn


def _padded_batch(lengths: list[int], dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    sequences = [torch.randn(length, dim, generator=generator) for length in lengths]
    padded = torch.zeros(len(lengths), max(lengths), dim)
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = sequence
        padded[row, len(sequence) :] = 7.0  # loud padding: any read past the end would show
    return padded, torch.tensor(lengths), sequences


@pytest.mark.parametrize("num_layers", [1, 2])
def test_last_valid_state_equals_running_each_sequence_alone(num_layers: int) -> None:
    torch.manual_seed(0)
    head = LastValidLSTM(5, 4, num_layers=num_layers).eval()
    padded, lengths, sequences = _padded_batch([3, 9, 1, 6, 9], dim=5, seed=1)
    with torch.no_grad():
        batched = head(padded, lengths)
        for row, sequence in enumerate(sequences):
            _, (hidden, _) = head.lstm(sequence[None])  # the unpadded sequence on its own
            torch.testing.assert_close(batched[row], hidden[-1, 0], rtol=1e-5, atol=1e-6)


def test_reading_at_the_padded_end_is_not_the_last_valid_state() -> None:
    """Guards the test above: the original's too-early/too-late read differs measurably from the true state."""
    torch.manual_seed(0)
    head = LastValidLSTM(5, 4, num_layers=2).eval()
    padded, lengths, _ = _padded_batch([3, 9], dim=5, seed=2)
    with torch.no_grad():
        true_last = head(padded, lengths)
        outputs, _ = head.lstm(padded)
    assert not torch.allclose(true_last[0], outputs[0, -1], atol=1e-3)
    torch.testing.assert_close(true_last[1], outputs[1, -1], rtol=1e-5, atol=1e-6)  # full-length row: same step


def test_lstm_gradients_flow_and_empty_sequences_give_zeros() -> None:
    head = LastValidLSTM(3, 2)
    padded = torch.randn(3, 4, 3, requires_grad=True)
    last = head(padded, torch.tensor([4, 0, 2]))
    assert torch.equal(last[1], torch.zeros(2))
    last.sum().backward()
    assert padded.grad is not None and padded.grad[0].abs().sum() > 0
    assert torch.equal(padded.grad[2, 2:], torch.zeros(2, 3))  # padding receives no gradient


def test_lengths_longer_than_the_padding_are_rejected() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        LastValidLSTM(3, 2)(torch.zeros(1, 2, 3), torch.tensor([3]))


def test_masked_mean_ignores_padding() -> None:
    padded, lengths, sequences = _padded_batch([2, 5, 1], dim=3, seed=3)
    expected = torch.stack([sequence.mean(dim=0) for sequence in sequences])
    torch.testing.assert_close(masked_mean(padded, lengths), expected)
    assert torch.equal(masked_mean(padded, torch.tensor([0, 5, 1]))[0], torch.zeros(3))


def test_fusion_mlp_layers_with_and_without_dropout() -> None:
    plain = FusionMLP(8, 6, 2)
    assert [type(layer) for layer in plain.layers] == [nn.Linear, nn.Tanh, nn.Linear]
    with_dropout = FusionMLP(8, 6, 2, dropout=0.1)
    assert [type(layer) for layer in with_dropout.layers] == [nn.Dropout, nn.Linear, nn.Tanh, nn.Dropout, nn.Linear]
    assert with_dropout.layers[0].p == 0.1


def test_branch_fusion_concatenates_global_mean_then_last_state() -> None:
    torch.manual_seed(0)
    model = BranchFusionRegressor([Branch("a", "mean+lstm")], {"a": 4}, fusion_hidden=8, outputs=3).eval()
    padded, lengths, sequences = _padded_batch([2, 4], dim=4, seed=4)
    first_linear = model.fusion.layers[0]
    captured: list[torch.Tensor] = []
    first_linear.register_forward_hook(lambda _module, args, _out: captured.append(args[0]))
    with torch.no_grad():
        out = model({"a": (padded, lengths)})
        lstm_last = model.lstms["a"](padded, lengths)
    assert out.shape == (2, 3)
    torch.testing.assert_close(captured[0][:, :4], torch.stack([s.mean(0) for s in sequences]))
    torch.testing.assert_close(captured[0][:, 4:], lstm_last)


def test_batch_composition_does_not_change_an_items_prediction() -> None:
    torch.manual_seed(0)
    model = BranchFusionRegressor(
        [Branch("t", "mean"), Branch("v", "lstm", lstm_hidden=3)], {"t": 2, "v": 4}, fusion_hidden=5, outputs=2
    ).eval()
    padded, lengths, sequences = _padded_batch([2, 7, 4], dim=4, seed=5)
    text = torch.randn(3, 1, 2)
    with torch.no_grad():
        batched = model({"t": (text, torch.ones(3, dtype=torch.long)), "v": (padded, lengths)})
        alone = model({"t": (text[1:2], torch.ones(1, dtype=torch.long)), "v": (sequences[1][None], lengths[1:2])})
    torch.testing.assert_close(batched[1:2], alone, rtol=1e-5, atol=1e-6)
