"""The BAH challenge baseline (baselines/bah_challenge.py): the authors' LFAN head, counted against their module's
formula; causality of its TCNs; its registration. The demo training runs in tests/systems/test_frame_demo.py."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import torch
from abaw_bench.baselines import bah_challenge
from abaw_bench.harness.cli import main
from abaw_bench.harness.encoders import encoder_info
from abaw_bench.harness.systems import get_system


def tcn_parameters(in_features: int, channels: Sequence[int], kernel: int = 5) -> int:
    """The authors' TemporalConvNet: per block two weight-normed convs (weight_v, one weight_g per output channel,
    bias) and a 1×1 residual conv where the width changes."""
    total, width = 0, in_features
    for out in channels:
        total += out * width * kernel + 2 * out + out * out * kernel + 2 * out
        total += out * width + out if width != out else 0
        width = out
    return total


def lfan_parameters(input_dims: Sequence[int], channels: Sequence[Sequence[int]], attention: int = 32,
                    outputs: int = 2) -> int:
    """The authors' LFAN without its frozen face backbone: TCNs, a BatchNorm1d (weight, bias) over each TCN's output,
    qkv Linear(C → 3·32) per modality, the output projection Linear(32·M → 32·M), LayerNorm(32·M) and the regressor
    Linear(C_leader + 32·M → 2), their two class logits."""
    fused = attention * len(input_dims)
    total = sum(tcn_parameters(dim, chans) for dim, chans in zip(input_dims, channels, strict=True))
    total += sum(2 * chans[-1] + chans[-1] * 3 * attention + 3 * attention for chans in channels)
    total += fused * fused + fused + 2 * fused
    return total + outputs * (channels[0][-1] + fused + 1)


def _count(module: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def test_head_at_the_authors_widths_has_their_parameter_count() -> None:
    names = ("vision", "vggish", "bert")
    knobs = bah_challenge.BahChallengeKnobs()
    head = bah_challenge.build_lfan(names, bah_challenge.AUTHORS_INPUT_DIMS, bah_challenge.AUTHORS_CHANNELS, 32, 2,
                                    heads=knobs.heads, kernel_size=knobs.kernel_size, dropout=knobs.dropout)
    expected = lfan_parameters([bah_challenge.AUTHORS_INPUT_DIMS[n] for n in names],
                               [bah_challenge.AUTHORS_CHANNELS[n] for n in names])
    assert _count(head) == expected == 5_001_378


@pytest.mark.parametrize("variant", list(get_system("bah-challenge").variants["bah"]))
def test_paper_preset_head_matches_the_formula(variant: str) -> None:
    spec = get_system("bah-challenge")
    row = spec.variant("bah", variant)
    dims = {name: encoder_info(name).output_dims["paper"] for name in row.inputs}
    head = spec.build_model("bah", row, dims, spec.knobs_for("bah", row, "paper"), spec.hyper_for("bah", row))
    channels = [spec.knobs_for("bah", row, "paper").channels()[name] for name in row.inputs]
    assert _count(head) == lfan_parameters([dims[name] for name in row.inputs], channels)
    authors = [bah_challenge.AUTHORS_NAMES[name] for name in row.inputs]  # the encoders give their widths
    assert [dims[name] for name in row.inputs] == [bah_challenge.AUTHORS_INPUT_DIMS[name] for name in authors]
    assert channels == [bah_challenge.AUTHORS_CHANNELS[name] for name in authors]
    if row.row == "Baseline":  # Table 2's row is the authors' trimodal module, in their "video+vggish+bert" order
        assert authors == ["vision", "vggish", "bert"] and _count(head) == 5_001_378


def test_trimodal_head_runs_on_spread_text_windows() -> None:
    """The Baseline row at the tiny preset: a forward pass over windows whose text rows are spread wordpieces (one row
    repeated over each block of frames) gives two logits per frame."""
    from abaw_bench.harness.train.windows import spread_rows

    torch.manual_seed(0)
    spec = get_system("bah-challenge")
    row = spec.variant("bah", "vision-audio-text")
    assert row.inputs == (bah_challenge.VISION, bah_challenge.AUDIO, bah_challenge.TEXT)
    dims = {name: encoder_info(name).output_dims["tiny"] for name in row.inputs}
    head = spec.build_model("bah", row, dims, spec.knobs_for("bah", row, "tiny"), spec.hyper_for("bah", row)).eval()
    wordpieces = torch.randn(7, dims[bah_challenge.TEXT])
    text = wordpieces[torch.from_numpy(spread_rows(7, 64, torch.arange(64).numpy()))]
    inputs = {name: (torch.randn(2, 64, dims[name]), torch.tensor([64, 40])) for name in row.inputs[:2]}
    inputs[bah_challenge.TEXT] = (torch.stack([text, text]), torch.tensor([64, 40]))
    with torch.no_grad():
        logits = head(inputs)
    assert logits.shape == (2, 64, 2) and torch.isfinite(logits).all()


def test_fusion_is_a_transcription_of_the_authors_multihead_attention() -> None:
    """The regressor's input equals [leader; follower] computed line by line as their MultimodalMultiheadAttention and
    MultiModalEncoderBlock do (qkv reshaped to [B, L, H, 1, 3d] and permuted to [B, H, L, 1, 3d], chunked, modalities
    concatenated, softmax(Q Kᵀ / √d) V + V, permuted back, flattened, o_proj, then LayerNorm), with the model's own
    weights: its head and modality order is theirs."""
    import math

    torch.manual_seed(0)
    names, widths, heads, attention = ("a", "b", "c"), {"a": 5, "b": 4, "c": 3}, 2, 8
    head = bah_challenge.build_lfan(names, widths, {"a": (8, 8), "b": (6, 6), "c": (4, 4)}, attention, 2,
                                    heads=heads, kernel_size=5, dropout=0.1).eval()
    inputs = {name: (torch.randn(2, 7, width), torch.tensor([7, 7])) for name, width in widths.items()}
    seen: dict[str, torch.Tensor] = {}
    head.regressor.register_forward_hook(lambda module, args, output: seen.update(x=args[0]))
    with torch.no_grad():
        head(inputs)
        sequences = [head.temporal_norm[str(i)](head.temporal[str(i)](head.standardise[str(i)](
            inputs[name][0].transpose(1, 2)))).transpose(1, 2) for i, name in enumerate(names)]
        d = attention // heads
        split = [head.qkv[str(i)](x).reshape(2, 7, heads, 1, 3 * d).permute(0, 2, 1, 3, 4).chunk(3, dim=-1)
                 for i, x in enumerate(sequences)]
        q, k, v = (torch.cat([parts[j] for parts in split], dim=-2) for j in range(3))
        values = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d), dim=-1) @ v + v
        follower = head.norm(head.output(values.permute(0, 2, 1, 3, 4).reshape(2, 7, attention * len(names))))
    torch.testing.assert_close(seen["x"], torch.cat((sequences[0], follower), dim=-1))


def test_outputs_are_per_frame_and_causal() -> None:
    """[B, L, 2] per window (two class logits); frames after a video's end (padding) cannot change the outputs of the
    frames before."""
    torch.manual_seed(0)
    spec = get_system("bah-challenge")
    row = spec.variant("bah", "vision-audio")
    dims = {name: 6 for name in row.inputs}
    head = spec.build_model("bah", row, dims, spec.knobs_for("bah", row, "tiny"), spec.hyper_for("bah", row)).eval()
    inputs = {name: (torch.randn(2, 40, 6), torch.tensor([40, 25])) for name in row.inputs}
    changed = {name: (padded.clone(), lengths) for name, (padded, lengths) in inputs.items()}
    for padded, _ in changed.values():
        padded[1, 25:] = 100.0
    with torch.no_grad():
        before, after = head(inputs), head(changed)
    assert before.shape == (2, 40, 2)
    torch.testing.assert_close(before[1, :25], after[1, :25])
    assert not torch.allclose(before[1, 25:], after[1, 25:])


def test_systems_lists_the_bah_variants(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["systems"]) == 0
    out = capsys.readouterr().out
    block = out[out.index("bah-challenge:"):].split("\n\n")[0]
    assert "task bah:" in block and "Baseline" in block and "paper: val 0.700" in block
    listed = [line.split()[0] for line in block.splitlines()[3:]]
    assert listed == ["*vision-audio-text", "vision-audio", "vision", "audio", "text"]  # * marks the default


def test_under_cross_entropy_the_head_gives_two_logits_and_the_decision_is_softmax_p1() -> None:
    """loss "ce": [B, L, 2] class logits per frame (the authors' head); the prediction table's p1 is the softmax's
    second column and its decision at 0.5 is their argmax. Outputs of any other width are a message."""
    import numpy as np
    from abaw_bench.harness.errors import AbawError
    from abaw_bench.harness.tasks import get_task
    from abaw_bench.harness.train.losses import output_transform
    from abaw_bench.harness.train.outputs import positive_probability, prediction_table

    torch.manual_seed(1)  # a seed whose untrained head decides both classes
    spec = get_system("bah-challenge")
    row = spec.variant("bah", "vision-audio")
    assert spec.hyper_for("bah", row).loss == "ce"  # every row runs the authors' two-logit head
    head = spec.build_model("bah", row, {name: 6 for name in row.inputs},
                            spec.knobs_for("bah", row, "tiny"), spec.hyper_for("bah", row)).eval()
    with torch.no_grad():
        logits = head({name: (torch.randn(1, 30, 6), torch.tensor([30])) for name in row.inputs})[0]
    assert logits.shape == (30, 2)
    probabilities = output_transform("ce")(logits).numpy()
    table = prediction_table(get_task("bah"), [f"v.mp4/frame-{i:05d}.jpg" for i in range(30)], probabilities)
    np.testing.assert_array_equal(table.values[:, 1], probabilities[:, 1])
    np.testing.assert_array_equal(table.values[:, 0], logits.argmax(-1).numpy())
    assert 0 < table.values[:, 0].sum() < 30  # both classes decided somewhere: the comparison is not vacuous
    bce = spec.build_model("bah", row, {name: 6 for name in row.inputs},
                           spec.knobs_for("bah", row, "tiny"), spec.hyper_for("bah", row).replace(loss="bce"))
    assert bce.regressor.out_features == 1  # `--hyper loss=bce`: the task's one logit
    with pytest.raises(AbawError, match=r"1 logit \(loss 'bce'\) or 2 \(loss 'ce'\) per row; found outputs of shape"):
        positive_probability(np.zeros((4, 3)))
