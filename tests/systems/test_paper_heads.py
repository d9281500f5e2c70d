"""With the paper preset every variant's head has exactly the authors' layer sizes; the variants are the tables' rows.

The expected layers below are written out from the papers and the authors' code, not computed from the system code.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from abaw_bench.harness.encoders import encoder_info
from abaw_bench.harness.systems import DATASET_TRANSCRIPT, get_system
from torch import nn

PROVIDED_DIMS = {"provided:vit": 384, "provided:wav2vec2": 768}  # the organisers' feature pickles (EMI release)


def paper_dims(system: str, inputs: tuple[str, ...]) -> dict[str, int]:
    spec = get_system(system)
    dims = {}
    for name in inputs:
        encoder = spec.encoder_for("emi", name, "paper")
        dims[name] = PROVIDED_DIMS[encoder] if encoder in PROVIDED_DIMS else encoder_info(encoder).output_dims["paper"]
    return dims


def layer_signature(model: nn.Module) -> list[tuple[Any, ...]]:
    """LSTMs and Linears in module order, as (kind, in, out[, layers]) tuples."""
    layers: list[tuple[Any, ...]] = []
    for module in model.modules():
        if isinstance(module, nn.LSTM):
            assert module.batch_first and not module.bidirectional
            layers.append(("LSTM", module.input_size, module.hidden_size, module.num_layers))
        elif isinstance(module, nn.Linear):
            layers.append(("Linear", module.in_features, module.out_features))
    return layers


def lstm(i: int, h: int) -> tuple[Any, ...]:
    return ("LSTM", i, h, 2)


def linear(i: int, o: int) -> tuple[Any, ...]:
    return ("Linear", i, o)


AUDIO_GLOBAL = [lstm(1027, 1027), linear(2054, 2054), linear(2054, 6)]
EXPECTED = {
    "hallmen2024": {
        "vision": [lstm(384, 384), linear(384, 384), linear(384, 6)],
        "multimodal": [lstm(384, 384), lstm(1027, 1027), linear(1411, 1411), linear(1411, 6)],
        "audio": [lstm(1027, 1027), linear(1027, 1027), linear(1027, 6)],
        "audio-global": AUDIO_GLOBAL,
        "audio-global-unfrozen": AUDIO_GLOBAL,
        "audio-global-unfrozen-dropout": AUDIO_GLOBAL,
        "trainval-audio-global-unfrozen": AUDIO_GLOBAL,
        "trainval-audio-global-unfrozen-dropout": AUDIO_GLOBAL,
    },
    "hallmen2025": {
        "vision": [lstm(1280, 768), linear(768, 1027), linear(1027, 6)],
        "audio": [lstm(1027, 1027), linear(1027, 1027), linear(1027, 6)],
        "text": [linear(768, 1027), linear(1027, 6)],
        "text-audio": [lstm(1027, 1027), linear(768 + 1027, 1027), linear(1027, 6)],
        "text-vision": [lstm(1280, 768), linear(768 + 768, 1027), linear(1027, 6)],
        "text-audio-vision": [lstm(1280, 768), lstm(1027, 1027), linear(2563, 1027), linear(1027, 6)],
        "trainval-text-vision": [lstm(1280, 768), linear(1536, 1027), linear(1027, 6)],
    },
    "baseline": {
        "vision": [linear(384, 256), linear(256, 6)],
        "audio": [linear(768, 256), linear(256, 6)],
        "multimodal": [linear(384 + 768, 256), linear(256, 6)],
        "constant-mean": [],
    },
}

# hallmen2025's rows that fine-tune an encoder have a frozen twin with the same head.
EXPECTED["hallmen2025"] |= {f"{name}-frozen": layers for name, layers in EXPECTED["hallmen2025"].items()
                            if name != "vision"}

# hallmen2024, Table 1 (trained rows) and hallmen2025, Table 1 ("Ours" rows), with their figures.
PAPER_ROWS = {
    "hallmen2024": {
        "Vision-only train": {"val": 0.031},
        "Multimodal train": {"val": 0.198},
        "Audio-only train": {"val": 0.262},
        "+ global vector": {"val": 0.280},
        "+ global + unfrozen": {"val": 0.386, "test": 0.461},
        "+ global + unfrozen + dropout": {"val": 0.389, "test": 0.465},
        "train+val global+unfrozen": {"val": None, "test": 0.522},
        "train+val global+unfrozen+dropout": {"val": None, "test": 0.554},
    },
    "hallmen2025": {
        "Ours vision": {"val": 0.138},
        "Ours audio": {"val": 0.376},
        "Ours text": {"val": 0.523},
        "Ours text+audio": {"val": 0.520},
        "Ours text+vision": {"val": 0.529},
        "Ours text+audio+vision": {"val": 0.522},
        "Ours† text+vision": {"val": None, "test": None},
    },
    "baseline": {
        "Baseline vision": {"val": None, "test": 0.090},
        "Baseline audio": {"val": None, "test": 0.240},
        "Baseline multimodal": {"val": None, "test": 0.250},
    },
}


@pytest.mark.parametrize("system", sorted(EXPECTED))
def test_paper_preset_heads_have_the_authors_layer_sizes(system: str) -> None:
    spec = get_system(system)
    assert set(spec.variants["emi"]) == set(EXPECTED[system])
    for name, expected in EXPECTED[system].items():
        variant = spec.variant("emi", name)
        model = spec.build_model("emi", variant, paper_dims(system, variant.inputs),
                                 spec.knobs_for("emi", variant, "paper"), spec.hyper_for("emi", variant))
        assert layer_signature(model) == expected, f"{system}/{name}"


def test_dropout_rows_drop_at_0_1_and_the_others_do_not() -> None:
    spec = get_system("hallmen2024")
    for name, variant in spec.variants["emi"].items():
        model = spec.build_model("emi", variant, paper_dims("hallmen2024", variant.inputs),
                                 spec.knobs_for("emi", variant, "paper"), spec.hyper_for("emi", variant))
        rates = {module.p for module in model.modules() if isinstance(module, nn.Dropout)}
        rates |= {module.dropout for module in model.modules() if isinstance(module, nn.LSTM)} - {0.0}
        assert rates == ({0.1} if name.endswith("dropout") else set()), name


def test_variants_are_the_paper_tables_trained_rows() -> None:
    for system, rows in PAPER_ROWS.items():
        variants = get_system(system).variants["emi"].values()
        table = {variant.row: dict(variant.paper) for variant in variants if variant.paper}
        assert table == rows, system


def test_train_val_rows_reuse_the_best_epoch_of_their_train_only_row() -> None:
    for system in ("hallmen2024", "hallmen2025"):
        spec = get_system(system)
        for variant in spec.variants["emi"].values():
            if variant.train_splits == ("train", "val"):
                source = spec.variant("emi", variant.reuse_best_epoch_of)
                assert source.train_splits == ("train",)
                assert (source.inputs, source.unfrozen, dict(source.hyper), dict(source.model)) == (
                    variant.inputs,
                    variant.unfrozen,
                    dict(variant.hyper),
                    dict(variant.model),
                )
            else:
                assert variant.reuse_best_epoch_of is None


def test_unfrozen_rows_and_hyper_parameters() -> None:
    h24 = get_system("hallmen2024")
    unfrozen = {name for name, variant in h24.variants["emi"].items() if variant.unfrozen}
    assert unfrozen == {name for name in h24.variants["emi"] if "unfrozen" in name}
    hyper = h24.hyper_for("emi", h24.variant("emi", "audio-global"))
    assert (hyper.lr, hyper.weight_decay, hyper.epochs, hyper.batch_size, hyper.loss) == (1e-4, 0.01, 30, 32, "mse")
    assert (hyper.grad_clip_value, hyper.max_seconds, hyper.warmup_epochs) == (100.0, 12.0, 1.0)
    h25 = get_system("hallmen2025")
    hyper = h25.hyper_for("emi", h25.variant("emi", None))
    assert (hyper.lr, hyper.epochs, hyper.batch_size, hyper.max_frames, hyper.loss) == (1e-4, 30, 32, 400, "mse")
    assert (hyper.grad_clip_value, hyper.grad_clip_norm) == (100.0, None)  # the authors' EMI script clips by value
    assert (hyper.encoder_lr, hyper.encoder_freeze_epoch) == (1e-4, None)  # GTE and wav2vec2 train every epoch
    # the table's rows fine-tune GTE and wav2vec2 where they read them (train_hume.py); vision stays frozen
    for name, variant in h25.variants["emi"].items():
        expected = () if name.endswith("-frozen") else tuple(i for i in variant.inputs if i in ("text", "wav2vec2-vad"))
        assert variant.unfrozen == expected, name
    assert h25.default_variant["emi"] == max(
        h25.variants["emi"].values(), key=lambda variant: variant.paper.get("val") or -1
    ).name


def test_text_role_resolves_per_preset() -> None:
    spec = get_system("hallmen2025")
    assert spec.encoder_for("emi", "text", "paper") == "gte-base"
    assert spec.encoder_for("emi", "text", "tiny") == "minilm"
    assert spec.transcript_for("emi", "text", "paper") == "whisper-large-v3"
    assert spec.transcript_for("emi", "text", "tiny") == DATASET_TRANSCRIPT
    assert spec.encoder_for("emi", "vit-h14", "tiny") == "vit-h14"
    assert spec.transcript_for("emi", "vit-h14", "paper") is None


def test_listing_the_systems_does_not_import_torch() -> None:
    """Every system file registers a system (listed without torch): the listing is the package scan's, not a list."""
    code = (
        "import pkgutil, sys\n"
        "import abaw_bench.baselines, abaw_bench.systems\n"
        "from abaw_bench.harness.systems import SYSTEMS\n"
        "files = {f'{package.__name__}.{module.name}' for package in (abaw_bench.systems, abaw_bench.baselines)\n"
        "         for module in pkgutil.iter_modules(package.__path__) if not module.name.startswith('_')}\n"
        "names = SYSTEMS.names()\n"
        "assert names == sorted(names) and files <= set(sys.modules), (names, files - set(sys.modules))\n"
        "assert {SYSTEMS.get(name).build_model.__module__ for name in names} == files, names\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
