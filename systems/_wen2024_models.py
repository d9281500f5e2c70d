"""The torch models of wen2024 (imported by `systems/wen2024.py` only when a model is built; see that file for the
paper, the authors' settings and what the harness changes).

Every model takes the model contract's windows, `{input: (padded [B, L, D], lengths [B])}` with all inputs aligned to
the same L label frames, and returns one row per frame, [B, L, K]. Recurrences run over time on batch-first tensors;
bidirectional ones are packed, so nothing a valid frame gets depends on the content of padding frames. Frames past
the longest window of a batch (a short video padded to the window length) are cut before any computation and come
back as zero rows. Every recurrence (the LSTMs, MFN's memory, MCTN's decoders) runs in fp32 under autocast
(`systems._heads.fp32_recurrence`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from abaw_bench.systems._heads import at_least_fp32, fp32_recurrence, length_mask
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

Inputs = Mapping[str, tuple[Tensor, Tensor]]


def to_longest(inputs: Inputs, names: Sequence[str]) -> tuple[dict[str, tuple[Tensor, Tensor]], Tensor, int]:
    """The inputs cut to the batch's longest window, the window lengths [B] they all share (the contract aligns every
    input to the label frames) and the padded length L to restore with `restore_frames`."""
    lengths = inputs[names[0]][1]
    for name in names[1:]:
        if not torch.equal(inputs[name][1].to(lengths.device), lengths):
            raise ValueError(f"inputs {names[0]!r} and {name!r} have different lengths; windows align every input")
    frames = inputs[names[0]][0].shape[1]
    longest = max(1, min(frames, int(lengths.max()))) if lengths.numel() else frames
    return {name: (inputs[name][0][:, :longest], lengths) for name in names}, lengths, frames


def restore_frames(rows: Tensor, frames: int) -> Tensor:
    """[B, longest, K] → [B, L, K] with zero rows past the longest window."""
    return F.pad(rows, (0, 0, 0, frames - rows.shape[1]))


def run_packed(lstm: nn.LSTM, padded: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """A batch-first LSTM over each sequence's valid frames, in fp32: outputs [B, L, H·directions] (zero at padding)
    and the final hidden state [layers·directions, B, H] at each sequence's true end, in the caller's batch order."""
    with fp32_recurrence(padded.device.type):
        packed = pack_padded_sequence(at_least_fp32(padded), lengths.detach().to("cpu", torch.int64).clamp(min=1),
                                      batch_first=True, enforce_sorted=False)
        outputs, (hidden, _) = lstm(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=padded.shape[1])
    return outputs, hidden


def feed_forward(in_features: int, hidden: int, out_features: int, dropout: float) -> nn.Sequential:
    """Linear → ReLU → Dropout → Linear: every small network of the Memory Fusion Network."""
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, out_features))


class ModalityAttentionFusion(nn.Module):
    """wen2024's "attention" model (the authors' attention_seq, after MERBench's attention fusion):

    per modality LSTM(D → H) → Dropout → Linear(H → H); per frame, an MLP over the concatenated modality states
    (Dropout → 3 × [Linear → ReLU]) and Linear(H → M) give one weight per modality (unnormalised, as in the authors'
    code); the weighted sum of the modality states goes through a Bi-LSTM(H → H) over time and Linear(2H → K).
    With one modality the weight is a learned per-frame gain on its state.
    """

    def __init__(self, input_dims: Mapping[str, int], hidden: int, dropout: float, outputs: int) -> None:
        super().__init__()
        self.names = tuple(input_dims)
        self.encoders = nn.ModuleDict({name: nn.LSTM(dim, hidden, batch_first=True)
                                       for name, dim in input_dims.items()})
        self.projections = nn.ModuleDict({name: nn.Linear(hidden, hidden) for name in self.names})
        self.dropout = nn.Dropout(dropout)
        self.weight_mlp = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden * len(self.names), hidden), nn.ReLU(),
                                        nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.modality_weights = nn.Linear(hidden, len(self.names))
        self.temporal = nn.LSTM(hidden, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, outputs)

    def forward(self, inputs: Inputs) -> Tensor:
        inputs, lengths, frames = to_longest(inputs, self.names)
        states = []
        for name in self.names:
            encoded, _ = run_packed(self.encoders[name], inputs[name][0], lengths)
            states.append(self.projections[name](self.dropout(encoded)))
        weights = self.modality_weights(self.weight_mlp(torch.cat(states, dim=-1)))  # [B, L, M]
        fused = (torch.stack(states, dim=-1) * weights[:, :, None, :]).sum(dim=-1)  # [B, L, H]
        temporal, _ = run_packed(self.temporal, fused, lengths)
        return restore_frames(self.head(temporal), frames)


class MemoryFusionNetwork(nn.Module):
    """The Memory Fusion Network (Zadeh et al., AAAI 2018) as wen2024 runs it, with a per-frame output.

    One LSTM cell per modality. At frame t the cell states of every modality at the last `window` frames (t−1 and t
    for window 2; zeros before the first frame) are concatenated into ĉ; delta-memory attention a = softmax(NN_a(ĉ))
    gives ĉ_att = a ⊙ ĉ; the multi-view gated memory u takes the proposal û = tanh(NN_u(ĉ_att)) through the retain
    and update gates γ1 = σ(NN_γ1([ĉ_att; u_{t−1}])), γ2 = σ(NN_γ2([ĉ_att; u_{t−1}])):  u_t = γ1 ⊙ u_{t−1} + γ2 ⊙ û.
    (The gates read the previous memory beside ĉ_att, as in the MFN authors' code.) Each NN is Linear → ReLU →
    Dropout → Linear. Per frame, NN_out([h_1 … h_M; u_t]) (→ H/2) feeds a Bi-LSTM(H/2 → H/2) over time and
    Linear(H → K).
    """

    def __init__(self, input_dims: Mapping[str, int], hidden: int, memory: int, window: int, dropout: float,
                 outputs: int) -> None:
        super().__init__()
        self.names, self.hidden, self.memory, self.window = tuple(input_dims), hidden, memory, window
        self.cells = nn.ModuleDict({name: nn.LSTMCell(dim, hidden) for name, dim in input_dims.items()})
        states = hidden * len(self.names)
        attended = states * window
        self.attention = feed_forward(attended, hidden, attended, dropout)
        self.proposal = feed_forward(attended, hidden, memory, dropout)
        self.retain_gate = feed_forward(attended + memory, hidden, memory, dropout)
        self.update_gate = feed_forward(attended + memory, hidden, memory, dropout)
        self.frame_out = feed_forward(states + memory, hidden, hidden // 2, dropout)
        self.temporal = nn.LSTM(hidden // 2, hidden // 2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * (hidden // 2), outputs)

    def recur(self, inputs: Inputs) -> tuple[Tensor, Tensor]:
        """Per frame, the modalities' hidden states concatenated [B, L, M·H] and the memory u_t [B, L, memory], in
        fp32; frames past the longest window are zeros (the recurrence is causal, so padding never reaches a valid
        frame)."""
        with fp32_recurrence(inputs[self.names[0]][0].device.type):
            return self._recur({name: (at_least_fp32(padded), lengths) for name, (padded, lengths) in inputs.items()})

    def _recur(self, inputs: Inputs) -> tuple[Tensor, Tensor]:
        first, lengths = inputs[self.names[0]]
        batch, frames = first.shape[:2]
        steps = int(lengths.max()) if lengths.numel() else 0
        zeros = first.new_zeros(batch, self.hidden)
        hidden = {name: zeros for name in self.names}
        cells = {name: zeros for name in self.names}
        past = [first.new_zeros(batch, self.hidden * len(self.names))] * (self.window - 1)
        memory = first.new_zeros(batch, self.memory)
        all_hidden, all_memory = [], []
        for t in range(steps):
            for name in self.names:
                hidden[name], cells[name] = self.cells[name](inputs[name][0][:, t], (hidden[name], cells[name]))
            current = torch.cat([cells[name] for name in self.names], dim=1)
            window = torch.cat([*past, current], dim=1)
            attended = torch.softmax(self.attention(window), dim=1) * window
            proposal = torch.tanh(self.proposal(attended))
            gate_input = torch.cat([attended, memory], dim=1)
            memory = (torch.sigmoid(self.retain_gate(gate_input)) * memory
                      + torch.sigmoid(self.update_gate(gate_input)) * proposal)
            past = [*past[1:], current] if self.window > 1 else []
            all_hidden.append(torch.cat([hidden[name] for name in self.names], dim=1))
            all_memory.append(memory)
        pad = frames - steps
        states = torch.stack(all_hidden, dim=1) if steps else first.new_zeros(batch, 0, self.hidden * len(self.names))
        memories = torch.stack(all_memory, dim=1) if steps else first.new_zeros(batch, 0, self.memory)
        return F.pad(states, (0, 0, 0, pad)), F.pad(memories, (0, 0, 0, pad))

    def forward(self, inputs: Inputs) -> Tensor:
        inputs, lengths, frames = to_longest(inputs, self.names)
        states, memories = self.recur(inputs)
        per_frame = self.frame_out(torch.cat([states, memories], dim=-1))
        temporal, _ = run_packed(self.temporal, per_frame, lengths)
        return restore_frames(self.head(temporal), frames)


class TranslationEncoder(nn.Module):
    """Bi-LSTM(D → H) over time; the two directions' outputs are summed (→ Dropout) into the joint states [B, L, H],
    and tanh(Linear(h_forward + h_backward)) at the sequence's ends is the decoder's initial state [B, H]."""

    def __init__(self, width: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.hidden = hidden
        self.lstm = nn.LSTM(width, hidden, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.initial_state = nn.Linear(hidden, hidden, bias=False)

    def forward(self, sequence: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        outputs, final = run_packed(self.lstm, sequence, lengths)
        joint = self.dropout(outputs[..., :self.hidden] + outputs[..., self.hidden:])
        return joint, torch.tanh(self.initial_state(final[-1] + final[-2]))


class AdditiveAttention(torch.autograd.Function):
    """context = Σ_s softmax_s(v·tanh(k_s + q)) j_s over the valid frames s (keys k [B, L, H], query q [B, H], joint
    states j [B, L, H], v [H], `invalid` [B, L] bool), in fp32 with autocast off. A decoder calls this once per frame,
    so what each call keeps decides the memory of a decoder pass:
    - the backward pass recomputes tanh(k + q) instead of keeping it (the autograd default would keep one [B, L, H]
      tensor per call: L²·B·H floats in all);
    - keys and joint states come in fp32, cast once per sequence by the decoder, so every call saves the same two
      tensors. (A per-call cast, as `custom_fwd(cast_inputs=float32)` does under autocast, kept two fresh [B, L, H]
      fp32 copies per frame for the backward pass: about 65 GB per decoder pass at B 32, L 1000, H 256 under bf16.)
    - tanh(k + q) is computed in `workspace`, one [B, L, H] buffer the decoder allocates once per sequence. A fresh
      [B, L, H] temporary per frame, freed between small long-lived allocations, fragments glibc's heap: peak memory
      then grows with every frame (measured: 5.8 GB instead of 1.1 GB for one 400-frame decoder pass at batch 32).
    Each call saves only the query [B, H] and the attention weights [B, L] of its own."""

    @staticmethod
    def forward(ctx: Any, keys: Tensor, query: Tensor, joint: Tensor, v: Tensor, invalid: Tensor,
                workspace: Tensor) -> Tensor:
        with fp32_recurrence(keys.device.type):
            energies = torch.add(keys, query[:, None, :], out=workspace).tanh_()
            weights = torch.softmax((energies @ v).masked_fill(invalid, float("-inf")), dim=-1)
            ctx.save_for_backward(keys, query, joint, v, weights)
            ctx.workspace = workspace  # scratch only: its content is rewritten before every use
            return torch.bmm(weights[:, None, :], joint).squeeze(1)

    @staticmethod
    def backward(ctx: Any, grad_context: Tensor) -> tuple[Tensor | None, ...]:
        keys, query, joint, v, weights = ctx.saved_tensors
        with fp32_recurrence(keys.device.type):
            grad_context = grad_context.to(joint.dtype)
            grad_weights = torch.bmm(joint, grad_context[:, :, None]).squeeze(-1)
            grad_scores = weights * (grad_weights - (grad_weights * weights).sum(dim=-1, keepdim=True))  # softmax
            energies = torch.add(keys, query[:, None, :], out=ctx.workspace).tanh_()
            grad_v = torch.einsum("bl,blh->h", grad_scores, energies)
            slope = energies.square_().neg_().add_(1)  # tanh' on k + q, in the workspace
            grad_pre = slope * (grad_scores[:, :, None] * v)
            grad_joint = weights[:, :, None] * grad_context[:, None, :]
        return grad_pre, grad_pre.sum(dim=1), grad_joint, grad_v, None, None


class AttentionDecoder(nn.Module):
    """Decodes the joint states into the target modality frame by frame, with additive (Bahdanau) attention.

    At frame t: energies v·tanh(W_k j_s + W_q h_{t−1}) over the valid frames s of the joint states j, context
    c_t = Σ softmax(energies)_s j_s; an LSTM cell reads [y_{t−1}; c_t] (teacher forcing: y_{t−1} is the true target
    frame, zeros at t = 0) and carries (h, c) to the next frame; the output is Linear(2H → D)([h_t; c_t]), zero at
    padding frames. The whole pass is a recurrence and runs in fp32 (`fp32_recurrence`), its inputs cast once. The
    attention's [B, L, H] energies are recomputed in the backward pass (`AdditiveAttention`): kept, they would take
    L²·B·H floats (33 GB for 1000-frame windows at batch 32).
    """

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.width = width
        self.keys = nn.Linear(hidden, hidden, bias=False)
        self.query = nn.Linear(hidden, hidden, bias=False)
        self.energy = nn.Linear(hidden, 1, bias=False)
        self.cell = nn.LSTMCell(width + hidden, hidden)
        self.out = nn.Linear(2 * hidden, width)

    def forward(self, joint: Tensor, initial: Tensor, target: Tensor, lengths: Tensor) -> Tensor:
        with fp32_recurrence(joint.device.type):
            return self._decode(at_least_fp32(joint), at_least_fp32(initial), at_least_fp32(target), lengths)

    def _decode(self, joint: Tensor, initial: Tensor, target: Tensor, lengths: Tensor) -> Tensor:
        batch, frames, _ = joint.shape
        steps = int(lengths.max()) if lengths.numel() else 0
        keys = self.keys(joint)
        valid = length_mask(lengths.to(joint.device), frames)
        invalid = ~valid
        state, cell = initial, torch.zeros_like(initial)
        previous = target.new_zeros(batch, self.width)
        workspace = torch.empty_like(keys)
        outputs = []
        for t in range(steps):
            context = AdditiveAttention.apply(keys, self.query(state), joint, self.energy.weight[0], invalid, workspace)
            state, cell = self.cell(torch.cat([previous, context], dim=1), (state, cell))
            outputs.append(self.out(torch.cat([state, context], dim=1)))
            previous = target[:, t]
        decoded = torch.stack(outputs, dim=1) if steps else joint.new_zeros(batch, 0, self.width)
        return F.pad(decoded, (0, 0, 0, frames - steps)) * valid[:, :, None]  # zero past each window's end


def masked_mse(prediction: Tensor, target: Tensor, lengths: Tensor) -> Tensor:
    """Mean squared error over the valid frames (and every column) only; zero, still in the graph, when none is."""
    valid = length_mask(lengths.to(prediction.device), prediction.shape[1]).to(prediction.dtype)[:, :, None]
    squared = (prediction - target) ** 2 * valid
    return squared.sum() / (valid.sum() * prediction.shape[-1]).clamp(min=1.0)


class CyclicTranslationNetwork(nn.Module):
    """The hierarchical Multimodal Cyclic Translation Network (Pham et al., AAAI 2019) as wen2024's code builds it.

    Two seq2seq models, each a Bi-LSTM encoder (`TranslationEncoder`) and an attention decoder (`AttentionDecoder`);
    every modality is zero-padded to one width D (the widest):
    - seq2seq 1 encodes the `source` frames into the joint states j1, translates j1 to the `partner` modality and
      back (the cycle: the translation is encoded again and decoded to the source);
    - seq2seq 2 encodes j1 into j2 (Bi-LSTM(H → H)) and translates j2 to the `target` modality;
    - the prediction reads j2: Bi-LSTM(H → H) over time → Linear(2H → K).
    Training adds `loss_weight` × the masked MSE of each of the three translations (on the modality's own columns and
    valid frames) as the auxiliary losses "translation", "cycle" and "joint_translation"; outside training no decoder
    runs (the prediction needs the source only) and no auxiliary loss is returned.
    """

    def __init__(self, source: str, partner: str, target: str, input_dims: Mapping[str, int], hidden: int,
                 dropout: float, loss_weight: float, outputs: int) -> None:
        super().__init__()
        self.source, self.partner, self.target, self.loss_weight = source, partner, target, loss_weight
        self.names = tuple(dict.fromkeys((source, partner, target)))
        self.dims = {name: input_dims[name] for name in self.names}
        self.width = max(self.dims.values())
        self.encoder1 = TranslationEncoder(self.width, hidden, dropout)
        self.decoder1 = AttentionDecoder(self.width, hidden)
        self.encoder2 = TranslationEncoder(hidden, hidden, dropout)
        self.decoder2 = AttentionDecoder(self.width, hidden)
        self.temporal = nn.LSTM(hidden, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, outputs)

    def _padded(self, inputs: Inputs, name: str) -> Tensor:
        features = inputs[name][0]
        return F.pad(features, (0, self.width - features.shape[-1]))

    def _mse(self, decoded: Tensor, inputs: Inputs, name: str, lengths: Tensor) -> Tensor:
        return self.loss_weight * masked_mse(decoded[..., :self.dims[name]], at_least_fp32(inputs[name][0]), lengths)

    def forward(self, inputs: Inputs) -> tuple[Tensor, dict[str, Tensor]]:
        inputs, lengths, frames = to_longest(inputs, self.names)
        source = self._padded(inputs, self.source)
        joint1, initial1 = self.encoder1(source, lengths)
        joint2, initial2 = self.encoder2(joint1, lengths)
        temporal, _ = run_packed(self.temporal, joint2, lengths)
        predictions = restore_frames(self.head(temporal), frames)
        if not self.training:
            return predictions, {}
        translated = self.decoder1(joint1, initial1, self._padded(inputs, self.partner), lengths)
        back_joint, back_initial = self.encoder1(translated, lengths)
        reconstructed = self.decoder1(back_joint, back_initial, source, lengths)
        joint_translated = self.decoder2(joint2, initial2, self._padded(inputs, self.target), lengths)
        return predictions, {
            "translation": self._mse(translated, inputs, self.partner, lengths),
            "cycle": self._mse(reconstructed, inputs, self.source, lengths),
            "joint_translation": self._mse(joint_translated, inputs, self.target, lengths),
        }


class PreNormTransformerBlock(nn.Module):
    """x + Attention(LayerNorm(x)), then + MLP(LayerNorm(·)); attention of `heads` × `head_dim` (qkv without bias,
    output projection back to the model width), MLP Linear → GELU → Linear, no dropout, as in the authors' code.
    Padding frames are masked as keys."""

    def __init__(self, width: int, heads: int, head_dim: int, mlp: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.attention_norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * heads * head_dim, bias=False)
        self.attention_out = nn.Linear(heads * head_dim, width)
        self.mlp_norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, mlp), nn.GELU(), nn.Linear(mlp, width))

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        batch, frames, _ = x.shape
        q, k, v = self.qkv(self.attention_norm(x)).view(batch, frames, 3, self.heads, self.head_dim).unbind(2)
        keys_valid = length_mask(lengths.to(x.device).clamp(min=1), frames)[:, None, None, :]
        attended = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                                  attn_mask=keys_valid)
        x = x + self.attention_out(attended.transpose(1, 2).reshape(batch, frames, -1))
        return x + self.mlp(self.mlp_norm(x))


class FrameTransformerClassifier(nn.Module):
    """wen2024's expression head on a fine-tuned backbone's per-frame features [B, L, D]: one pre-norm Transformer
    block (width D) over the window → concat[feature, block output] (2D) → Dropout → Linear(2D → K) per frame."""

    def __init__(self, input_name: str, width: int, heads: int, head_dim: int, mlp: int, dropout: float,
                 outputs: int) -> None:
        super().__init__()
        self.input_name = input_name
        self.block = PreNormTransformerBlock(width, heads, head_dim, mlp)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * width, outputs)

    def forward(self, inputs: Inputs) -> Tensor:
        inputs, lengths, frames = to_longest(inputs, (self.input_name,))
        features = inputs[self.input_name][0]
        rows = self.head(self.dropout(torch.cat([features, self.block(features, lengths)], dim=-1)))
        return restore_frames(rows, frames)
