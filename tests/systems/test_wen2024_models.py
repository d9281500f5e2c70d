"""wen2024's models and variants: per-frame shapes, padding masks, MCTN's recurrence over time, MFN's memory update
against a float64 reference, and the paper presets' sizes counted from the architecture's formulas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from abaw_bench.harness.encoders import encoder_info
from abaw_bench.harness.systems import get_system
from abaw_bench.harness.tasks import get_task
from abaw_bench.systems._wen2024_models import AdditiveAttention, CyclicTranslationNetwork, MemoryFusionNetwork
from torch import nn

SPEC = get_system("wen2024")

# Table 1 (VA, CCC val) and Table 2 (Expr, F1 val) of wen2024, with the inputs each row names.
VA_ROWS = {
    "attention-resnet": ("Attention ResNet/–", "attention", ("resnet50",), 0.5342),
    "attention-senet": ("Attention SENet/–", "attention", ("seresnet50",), 0.5513),
    "attention-clip": ("Attention CLIP-large/–", "attention", ("clip-l14",), 0.6347),
    "attention-eva02": ("Attention EVA02/–", "attention", ("eva02-large",), 0.6082),
    "attention-clip-wavlm": ("Attention CLIP-large/WavLM", "attention", ("clip-l14", "wavlm-large"), 0.6523),
    "mfn-clip-wavlm": ("MFN CLIP-large/WavLM", "mfn", ("clip-l14", "wavlm-large"), 0.6874),
    "mfn-eva02-wavlm": ("MFN EVA02/WavLM", "mfn", ("eva02-large", "wavlm-large"), 0.6523),
    "mctn-clip-wavlm": ("MCTN CLIP-large/WavLM", "mctn", ("clip-l14", "wavlm-large"), 0.6943),
    "mctn-eva02-wavlm": ("MCTN EVA02/WavLM", "mctn", ("eva02-large", "wavlm-large"), 0.6645),
}
EXPR_ROWS = {
    "efficientnetv2-lr1e-3": ("Attention EfficientNetV2 lr .001", "efficientnetv2", 1e-3, 0.255),
    "efficientnetv2-lr5e-4": ("Attention EfficientNetV2 lr .0005", "efficientnetv2", 5e-4, 0.274),
    "mobilenetv3-lr1e-3": ("Attention MobileNetV3 lr .001", "mobilenetv3", 1e-3, 0.289),
    "mobilenetv3-lr5e-4": ("Attention MobileNetV3 lr .0005", "mobilenetv3", 5e-4, 0.263),
}
PAPER_DIMS = {"resnet50": 2048, "seresnet50": 2048, "clip-l14": 768, "eva02-large": 1024, "wavlm-large": 1024,
              "mobilenetv3": 1280, "efficientnetv2": 1024}  # the feature widths wen2024's encoders give


def windows(dims: dict[str, int], lengths: list[int], frames: int, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {name: (torch.randn(len(lengths), frames, dim, generator=generator), torch.tensor(lengths))
            for name, dim in dims.items()}


def with_new_padding(inputs: dict, seed: int) -> dict:
    generator = torch.Generator().manual_seed(seed)
    changed = {}
    for name, (padded, lengths) in inputs.items():
        padding = torch.arange(padded.shape[1])[None, :] >= lengths[:, None]
        noise = 100 * torch.randn(padded.shape, generator=generator)
        changed[name] = (torch.where(padding[:, :, None], noise, padded), lengths)
    return changed


def predictions(model: nn.Module, inputs: dict) -> torch.Tensor:
    output = model(inputs)
    return output[0] if isinstance(output, tuple) else output


def tiny_model(task: str, name: str) -> tuple[nn.Module, dict[str, int]]:
    variant = SPEC.variant(task, name)
    dims = {name: encoder_info(name).output_dims["tiny"] for name in variant.inputs}
    return SPEC.build_model(task, variant, dims,
                            SPEC.knobs_for(task, variant, "tiny"), SPEC.hyper_for(task, variant)), dims


def test_variants_are_the_rows_of_the_two_tables() -> None:
    va = {name: (v.row, v.options["model"], v.inputs, v.paper["val"]) for name, v in SPEC.variants["va"].items()}
    assert va == VA_ROWS
    expr = {name: (v.row, v.inputs[0], v.hyper["lr"], v.paper["val"]) for name, v in SPEC.variants["expr"].items()}
    assert expr == EXPR_ROWS
    assert all(v.unfrozen == v.inputs and len(v.inputs) == 1 for v in SPEC.variants["expr"].values())
    assert SPEC.default_variant == {"va": "mctn-clip-wavlm", "expr": "mobilenetv3-lr1e-3"}


def test_hyper_parameters_follow_the_paper() -> None:
    va = SPEC.hyper_for("va", SPEC.variant("va", "attention-clip"))
    assert (va.sampling, va.window, va.stride, va.inference_stride) == ("windows", 1000, 200, None)
    assert (va.loss, va.optimizer, va.lr, va.weight_decay, va.grad_clip_value, va.batch_size) == (
        "ccc", "adam", 1e-3, 1e-5, 0.8, 32)
    va_knobs = SPEC.knobs_for("va", SPEC.variant("va", "attention-clip"), "paper")  # Table 1's caption
    assert (va_knobs.hidden, va_knobs.dropout, va_knobs.translation_loss_weight) == (256, 0.2, 0.5)
    assert (va.ccc_granularity, va.ccc_reduction) == ("window", "sum")  # the authors' 2 − (CCC_v + CCC_a) per window
    for name, (_, _, lr, _) in EXPR_ROWS.items():  # the authors' code: focal CE + smoothing, batch 8, plateau
        expr = SPEC.hyper_for("expr", SPEC.variant("expr", name))
        assert (expr.sampling, expr.window, expr.batch_size, expr.epochs, expr.lr, expr.schedule) == (
            "windows", 64, 8, 30, lr, "plateau")
        knobs = SPEC.knobs_for("expr", SPEC.variant("expr", name), "paper")
        assert (knobs.heads, knobs.head_dim, knobs.mlp, knobs.dropout) == (2, 64, 512, 0.5)
        assert (expr.loss, expr.label_smoothing, expr.focal_gamma, expr.focal_alpha, expr.distillation_weight) == (
            "ce", 0.1, 2.0, 0.9, 0.2)
        paper = SPEC.hyper_for("expr", SPEC.variant("expr", name), "paper")  # the paper's text: soft F1, batch 16
        assert (paper.loss, paper.batch_size, paper.lr, paper.recipe) == ("soft_f1", 16, lr, "paper")


@pytest.mark.parametrize(("task", "name"), [(task, name) for task in ("va", "expr") for name in SPEC.variants[task]])
def test_tiny_preset_gives_one_row_per_frame(task: str, name: str) -> None:
    model, dims = tiny_model(task, name)
    inputs = windows(dims, [6, 3], 6)
    output = model(inputs)
    prediction = output[0] if isinstance(output, tuple) else output
    assert prediction.shape == (2, 6, get_task(task).output_width) and torch.isfinite(prediction).all()
    if name.startswith("mctn"):
        assert set(output[1]) == {"translation", "cycle", "joint_translation"}
        assert all(value.ndim == 0 and float(value.detach()) > 0 for value in output[1].values())
        (prediction.sum() + sum(output[1].values())).backward()
        for decoder in (model.decoder1, model.decoder2):  # the translation losses train both decoders
            assert decoder.cell.weight_ih.grad.abs().sum() > 0
        model.eval()
        assert model(inputs)[1] == {}  # outside training the decoder does not run


@pytest.mark.parametrize(("task", "name"), [("va", "attention-clip-wavlm"), ("va", "mfn-eva02-wavlm"),
                                            ("va", "mctn-clip-wavlm"), ("expr", "mobilenetv3-lr1e-3")])
def test_valid_frames_ignore_padding(task: str, name: str) -> None:
    model, dims = tiny_model(task, name)
    model.eval()
    lengths = [9, 4, 1]
    inputs = windows(dims, lengths, 9)
    with torch.no_grad():
        reference = predictions(model, inputs)
        repadded = predictions(model, with_new_padding(inputs, seed=1))
        for row, length in enumerate(lengths):
            valid = slice(0, length)
            torch.testing.assert_close(repadded[row, valid], reference[row, valid], rtol=1e-5, atol=1e-6)
            alone = {key: (padded[row:row + 1, valid], lengths_[row:row + 1])
                     for key, (padded, lengths_) in inputs.items()}
            torch.testing.assert_close(predictions(model, alone)[0], reference[row, valid], rtol=1e-5, atol=1e-6)


def test_mctn_translation_losses_ignore_padding() -> None:
    model, dims = tiny_model("va", "mctn-clip-wavlm")
    inputs = windows(dims, [7, 2], 7)
    losses = []
    for version in (inputs, with_new_padding(inputs, seed=2)):
        torch.manual_seed(0)  # the same dropout masks for both forwards
        losses.append({key: float(value.detach()) for key, value in model(version)[1].items()})
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)


def small_mctn(partner: str = "vision") -> CyclicTranslationNetwork:
    torch.manual_seed(0)
    return CyclicTranslationNetwork("vision", partner, "audio", {"vision": 6, "audio": 5}, hidden=8, dropout=0.0,
                                    loss_weight=0.5, outputs=2)


def test_mctn_recurrence_runs_over_time_not_over_the_batch() -> None:
    model = small_mctn()
    inputs = windows({"vision": 6, "audio": 5}, [7, 3, 5, 7], 7)
    order = torch.tensor([2, 0, 3, 1])
    permuted = {name: (padded[order], lengths[order]) for name, (padded, lengths) in inputs.items()}
    model.eval()
    with torch.no_grad():
        reference = model(inputs)[0]
        torch.testing.assert_close(model(permuted)[0], reference[order], rtol=1e-5, atol=1e-6)
        other_item = {name: (padded.clone(), lengths) for name, (padded, lengths) in inputs.items()}
        other_item["vision"][0][1] += 1.0  # item 1 changes: item 0 must not
        torch.testing.assert_close(model(other_item)[0][0], reference[0], rtol=0, atol=0)
        last_frame = {name: (padded.clone(), lengths) for name, (padded, lengths) in inputs.items()}
        last_frame["vision"][0][0, 6] += 1.0  # item 0's last frame changes its first frame's output (Bi-LSTMs)
        assert not torch.allclose(model(last_frame)[0][0, 0], reference[0, 0])
    model.train()
    losses, permuted_losses = model(inputs)[1], model(permuted)[1]
    for key in ("translation", "cycle", "joint_translation"):
        torch.testing.assert_close(permuted_losses[key], losses[key], rtol=1e-5, atol=1e-7)


def test_mctn_decoder_is_teacher_forced_and_causal_in_time() -> None:
    model = small_mctn()
    source, target = torch.randn(2, 8, 6), torch.randn(2, 8, 6)
    lengths = torch.tensor([8, 5])
    with torch.no_grad():
        joint, initial = model.encoder1(source, lengths)
        decoded = model.decoder1(joint, initial, target, lengths)
        later = target.clone()
        later[0, 5] += 1.0  # the true frame 5 is the decoder's input at frame 6 only
        changed = model.decoder1(joint, initial, later, lengths)
        order = torch.tensor([1, 0])
        permuted = model.decoder1(joint[order], initial[order], target[order], lengths[order])
    torch.testing.assert_close(changed[0, :6], decoded[0, :6], rtol=0, atol=0)
    assert not torch.allclose(changed[0, 6:], decoded[0, 6:])
    torch.testing.assert_close(changed[1], decoded[1], rtol=0, atol=0)
    assert decoded[1, 5:].abs().sum() == 0  # nothing is decoded past a window's end
    torch.testing.assert_close(permuted, decoded[order], rtol=1e-5, atol=1e-6)


def test_mctn_follows_the_authors_two_seq2seq_data_flow() -> None:
    """As mctn.py: j1 = encoder1(source); the prediction reads j2 = encoder2(j1); decoder1 translates j1 to the partner
    and (encoder1 again) back to the source; decoder2 translates j2 to the target; each MSE weighted 0.5."""
    model = small_mctn(partner="audio")
    inputs = windows({"vision": 6, "audio": 5}, [7, 4], 7)
    (vision, lengths), (audio, _) = inputs["vision"], inputs["audio"]
    source, target = vision, F.pad(audio, (0, 1))  # every modality padded to the widest (6)
    model.eval()
    with torch.no_grad():
        joint1, initial1 = model.encoder1(source, lengths)
        joint2, initial2 = model.encoder2(joint1, lengths)
        temporal, _ = model.temporal(joint2)  # full-length items: no packing needed for item 0
        torch.testing.assert_close(model(inputs)[0][0], model.head(temporal)[0], rtol=1e-5, atol=1e-6)
        translated = model.decoder1(joint1, initial1, target, lengths)
        reconstructed = model.decoder1(*model.encoder1(translated, lengths), source, lengths)
        joint_translated = model.decoder2(joint2, initial2, target, lengths)
    model.train()
    with torch.no_grad():
        losses = model(inputs)[1]
    valid = (torch.arange(7)[None, :] < lengths[:, None])[:, :, None]

    def mse(decoded: torch.Tensor, truth: torch.Tensor) -> float:
        width = truth.shape[-1]
        return 0.5 * float(((decoded[..., :width] - truth) ** 2 * valid).sum() / (valid.sum() * width))

    assert float(losses["translation"]) == pytest.approx(mse(translated, audio), rel=1e-5)
    assert float(losses["cycle"]) == pytest.approx(mse(reconstructed, vision), rel=1e-5)
    assert float(losses["joint_translation"]) == pytest.approx(mse(joint_translated, audio), rel=1e-5)


def test_additive_attention_gradient_matches_finite_differences() -> None:
    generator = torch.Generator().manual_seed(0)
    keys, joint = (torch.randn(2, 5, 3, dtype=torch.float64, generator=generator, requires_grad=True)
                   for _ in range(2))
    query = torch.randn(2, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    v = torch.randn(3, dtype=torch.float64, generator=generator, requires_grad=True)
    invalid = torch.tensor([[False] * 5, [False, False, True, True, True]])
    workspace = torch.empty_like(keys)  # the scratch buffer a decoder reuses for every frame
    assert torch.autograd.gradcheck(AdditiveAttention.apply, (keys, query, joint, v, invalid, workspace))
    context = AdditiveAttention.apply(keys, query, joint, v, invalid, workspace)
    scores = torch.tanh(keys + query[:, None]) @ v  # the same context written with autograd's own operations
    reference = torch.softmax(scores.masked_fill(invalid, float("-inf")), dim=-1)[:, None] @ joint
    torch.testing.assert_close(context, reference.squeeze(1))


def test_mfn_memory_follows_the_published_update_in_float64() -> None:
    torch.manual_seed(0)
    dims = {"vision": 3, "audio": 4}
    model = MemoryFusionNetwork(dims, hidden=4, memory=3, window=2, dropout=0.0, outputs=2).double().eval()
    inputs = {name: (torch.randn(2, 5, dim, dtype=torch.float64), torch.tensor([5, 5])) for name, dim in dims.items()}
    with torch.no_grad():
        states, memories = model.recur(inputs)
    weights = {key: value.numpy() for key, value in model.state_dict().items()}

    def sigmoid(x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-x))

    def network(prefix: str, x: np.ndarray) -> np.ndarray:  # Linear → ReLU → (Dropout) → Linear
        hidden = np.maximum(x @ weights[f"{prefix}.0.weight"].T + weights[f"{prefix}.0.bias"], 0)
        return hidden @ weights[f"{prefix}.3.weight"].T + weights[f"{prefix}.3.bias"]

    h = {name: np.zeros((2, 4)) for name in dims}
    c = {name: np.zeros((2, 4)) for name in dims}
    previous_cells, u = np.zeros((2, 8)), np.zeros((2, 3))
    for t in range(5):
        for name in dims:  # the LSTM cell: gates i, f, g, o
            gates = (inputs[name][0][:, t].numpy() @ weights[f"cells.{name}.weight_ih"].T
                     + h[name] @ weights[f"cells.{name}.weight_hh"].T
                     + weights[f"cells.{name}.bias_ih"] + weights[f"cells.{name}.bias_hh"])
            i, f, g, o = np.split(gates, 4, axis=1)
            c[name] = sigmoid(f) * c[name] + sigmoid(i) * np.tanh(g)
            h[name] = sigmoid(o) * np.tanh(c[name])
        cells = np.concatenate([c["vision"], c["audio"]], axis=1)
        c_hat = np.concatenate([previous_cells, cells], axis=1)  # window 2: cell states at t−1 and t
        scores = network("attention", c_hat)
        attention = np.exp(scores - scores.max(axis=1, keepdims=True))
        attended = attention / attention.sum(axis=1, keepdims=True) * c_hat
        proposal = np.tanh(network("proposal", attended))
        both = np.concatenate([attended, u], axis=1)
        u = sigmoid(network("retain_gate", both)) * u + sigmoid(network("update_gate", both)) * proposal
        previous_cells = cells
        np.testing.assert_allclose(memories[:, t].numpy(), u, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(states[:, t].numpy(), np.concatenate([h["vision"], h["audio"]], axis=1),
                                   rtol=1e-12, atol=1e-12)


def lstm(inputs: int, hidden: int) -> int:
    return 4 * hidden * (inputs + hidden) + 8 * hidden  # input and recurrent weights, two bias vectors


def linear(inputs: int, outputs: int, bias: bool = True) -> int:
    return inputs * outputs + (outputs if bias else 0)


def expected_parameters(task: str, model: str, dims: list[int], k: int) -> int:
    """The paper preset's size, from the architecture: H 256, MFN memory 128 and window 2, Expr 2 heads × 64 and
    MLP 512."""
    h = 256
    if task == "expr":
        (d,) = dims
        return 2 * 2 * d + linear(d, 3 * 128, bias=False) + linear(128, d) + linear(d, 512) + linear(512, d) \
            + linear(2 * d, k)
    if model == "attention":
        m = len(dims)
        return sum(lstm(d, h) + linear(h, h) for d in dims) + linear(h * m, h) + 2 * linear(h, h) + linear(h, m) \
            + 2 * lstm(h, h) + linear(2 * h, k)
    if model == "mfn":
        states, memory = h * len(dims), 128
        attended = 2 * states
        return sum(lstm(d, h) for d in dims) + linear(attended, h) + linear(h, attended) \
            + linear(attended, h) + linear(h, memory) + 2 * (linear(attended + memory, h) + linear(h, memory)) \
            + linear(states + memory, h) + linear(h, h // 2) + 2 * lstm(h // 2, h // 2) + linear(h, k)
    width = max(dims)

    def encoder(inputs: int) -> int:  # Bi-LSTM(inputs → H), Linear(H → H) without bias for the decoder's state
        return 2 * lstm(inputs, h) + linear(h, h, bias=False)

    # attention Linear(2H → H) and v (no bias), the decoder's LSTM cell on [y; c], Linear(2H → D)
    decoder = linear(2 * h, h, bias=False) + linear(h, 1, bias=False) + lstm(width + h, h) + linear(2 * h, width)
    seq2seq1, seq2seq2 = encoder(width) + decoder, encoder(h) + decoder  # the authors' two Seq2Seq modules
    return seq2seq1 + seq2seq2 + 2 * lstm(h, h) + linear(2 * h, k)


@pytest.mark.parametrize(("task", "name"), [(task, name) for task in ("va", "expr") for name in SPEC.variants[task]])
def test_paper_preset_sizes_on_the_meta_device(task: str, name: str) -> None:
    variant = SPEC.variant(task, name)
    with torch.device("meta"):
        model = SPEC.build_model(task, variant, {name: PAPER_DIMS[name] for name in variant.inputs},
                                 SPEC.knobs_for(task, variant, "paper"), SPEC.hyper_for(task, variant))
    family = variant.options.get("model", "expr")
    k = 2 if task == "va" else 8  # valence + arousal; the 8 expression classes
    assert sum(p.numel() for p in model.parameters()) == expected_parameters(
        task, family, [PAPER_DIMS[name] for name in variant.inputs], k)
    rates = {module.p for module in model.modules() if isinstance(module, nn.Dropout)}
    assert rates == ({0.2} if task == "va" else {0.5})  # Table 1's dropout; the expression head's 0.5
    assert all(module.batch_first for module in model.modules() if isinstance(module, nn.LSTM))


def test_va_rows_say_they_lack_the_authors_pseudo_labels() -> None:
    for variant in SPEC.variants["va"].values():
        assert len(variant.notes) == 1 and "pseudo-label" in variant.notes[0]
    assert all(not variant.notes for variant in SPEC.variants["expr"].values())


def test_the_papers_expression_recipe_is_one_hyper_override_away(tmp_path: Path) -> None:
    from abaw_bench.harness.errors import AbawError
    from abaw_bench.harness.train.config import RunConfig
    from abaw_bench.harness.train.pipeline import resolve_hyper

    variant = SPEC.variant("expr", "mobilenetv3-lr1e-3")

    def resolved(**overrides: object) -> object:
        # a real data root (no demo marker): the rows' schedule, not the demo's
        config = RunConfig("wen2024", "expr", variant.name, "tiny", str(tmp_path), "runs",
                           hyper_overrides=dict(overrides))
        return resolve_hyper(SPEC, "expr", variant, config)

    paper = resolved(recipe="paper", batch_size=4)  # the recipe first, then the other overrides
    assert (paper.loss, paper.batch_size, paper.recipe, paper.lr) == ("soft_f1", 4, "paper", 1e-3)
    assert resolved().recipe is None and resolved().loss == "ce"
    with pytest.raises(AbawError, match="recipe 'nosuch'"):
        resolved(recipe="nosuch")
