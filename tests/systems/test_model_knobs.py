"""Every system's model knobs, walked through the registry (a new system or variant is covered without naming it
here): every variant builds at the tiny preset with its resolved knobs and gives the contract's output shape, every
knob refuses a value outside its declared legal values, and every knob reaches the built model (a --hyper override
recorded in config.json and results.json is what the model runs with)."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import pytest
import torch
from abaw_bench.harness.cli.info import input_dims
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.systems import SYSTEMS, Range
from abaw_bench.harness.tasks import get_task
from abaw_bench.harness.train.outputs import is_binary
from torch import nn

ROWS = [(name, task, variant) for name, spec in SYSTEMS for task in spec.tasks for variant in spec.variants[task]]
KNOB_SETS = [(name, task) for name, spec in SYSTEMS for task in spec.tasks]
BATCH, FRAMES = 2, 5


def _build(system: str, task: str, variant_name: str, overrides: dict[str, Any] | None = None) -> nn.Module:
    spec = SYSTEMS.get(system)
    variant = spec.variant(task, variant_name)
    knobs = spec.knobs_for(task, variant, "tiny", overrides)
    return spec.build_model(task, variant, input_dims(spec, task, variant.inputs, "tiny"), knobs,
                            spec.hyper_for(task, variant))


@pytest.mark.parametrize(("system", "task", "variant_name"), ROWS)
def test_every_variant_builds_at_the_tiny_preset_with_the_contracts_output(system: str, task: str,
                                                                           variant_name: str) -> None:
    spec = SYSTEMS.get(system)
    variant = spec.variant(task, variant_name)
    hyper = spec.hyper_for(task, variant)
    torch.manual_seed(0)
    model = _build(system, task, variant_name).eval()
    dims = input_dims(spec, task, variant.inputs, "tiny")
    lengths = torch.tensor([FRAMES, 3])
    with torch.no_grad():
        output = model({name: (torch.randn(BATCH, FRAMES, dim), lengths) for name, dim in dims.items()})
    predictions = output[0] if isinstance(output, tuple) else output  # (predictions, auxiliary losses)
    facts = get_task(task)
    width = 2 if hyper.loss == "ce" and is_binary(facts) else facts.output_width
    expected = (BATCH, FRAMES, width) if hyper.sampling == "windows" else (BATCH, width)
    assert tuple(predictions.shape) == expected


def _outside(legal: Range, integer: bool) -> list[float]:
    step = 1 if integer else 1e-3
    values = [legal.low if legal.low_open else legal.low - step, legal.high if legal.high_open else legal.high + step]
    return [int(value) for value in values] if integer else [*values, math.nan]


def _bad_values(system: str, task: str) -> list[tuple[str, Any]]:
    cases: list[tuple[str, Any]] = []
    for item in fields(SYSTEMS.get(system).knobs[task]):
        legal = item.metadata["legal"]
        if isinstance(legal, tuple):
            cases.append((item.name, "no such choice"))
        elif isinstance(legal, Range):
            integer = item.type.startswith(("int", "tuple[int"))
            for value in _outside(legal, integer):
                cases.append((item.name, (value,) if item.type.startswith("tuple") else value))
            cases.append((item.name, "text"))
    return cases


@pytest.mark.parametrize(("system", "task"), KNOB_SETS)
def test_every_knob_refuses_values_outside_its_declared_range(system: str, task: str) -> None:
    spec = SYSTEMS.get(system)
    variant = spec.variant(task, None)
    cases = _bad_values(system, task)
    assert {name for name, _ in cases} == {item.name for item in fields(spec.knobs[task])}  # every knob has a range
    for name, value in cases:
        with pytest.raises(ValueError, match=rf"{type(spec.knobs[task]).__name__}\.{name}\b.*expected"):
            spec.knobs_for(task, variant, "tiny", {name: value})


@pytest.mark.parametrize(("system", "task"), KNOB_SETS)
def test_knobs_name_only_real_presets(system: str, task: str) -> None:
    """A misspelt preset in `knob(..., tyni=16)` would never apply; every one named is an encoder preset."""
    from abaw_bench.harness.encoders import PRESETS

    for item in fields(SYSTEMS.get(system).knobs[task]):
        assert set(item.metadata["presets"]) <= set(PRESETS), f"{system} {task} {item.name}"


def _changed(value: Any, legal: Range | tuple[str, ...] | None) -> list[Any]:
    """Legal values other than `value`, nearest first (a knob may constrain another, e.g. width % heads)."""
    if isinstance(legal, tuple):
        return [choice for choice in legal if choice != value]
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, tuple):
        return [tuple(item + 1 for item in value), (*value, value[-1])]
    if value is None:
        return [7, 12]
    if isinstance(value, int):
        return [value + 1, value * 2, value * 3, max(value - 1, 1)]
    return [0.37 if value != 0.37 else 0.25]


def _fingerprint(model: nn.Module) -> list[Any]:
    """What a model is: its modules (repr: sizes, kernels, dropout rates), its parameter shapes and the plain settings
    its modules keep (e.g. a loss weight, a head count)."""
    settings = [(name, key, value) for name, module in model.named_modules() for key, value in vars(module).items()
                if not key.startswith("_") and key != "training" and isinstance(value, int | float | str | tuple)]
    return [repr(model), [tuple(p.shape) for p in model.parameters()], settings]


def _knob_changes(system: str, task: str) -> list[tuple[str, Any]]:
    spec = SYSTEMS.get(system)
    defaults, variant = spec.knobs[task], spec.variant(task, None)
    changes = []
    for item in fields(defaults):
        current = getattr(spec.knobs_for(task, variant, "tiny"), item.name)
        for candidate in _changed(current, item.metadata["legal"]):
            try:
                spec.knobs_for(task, variant, "tiny", {item.name: candidate})
            except ValueError:
                continue
            changes.append((item.name, candidate))
            break
        else:
            raise AssertionError(f"{system} {task}: no legal value other than {current!r} for knob {item.name}")
    return changes


@pytest.mark.parametrize(("system", "task"), KNOB_SETS)
def test_each_knob_reaches_the_model(system: str, task: str) -> None:
    """Changing any one knob changes some trainable variant's model; a dropout knob is the rate of every dropout."""
    spec = SYSTEMS.get(system)
    trained = [name for name, variant in spec.variants[task].items() if spec.hyper_for(task, variant).epochs > 0]
    with torch.device("meta"):  # no memory
        built = {name: _fingerprint(_build(system, task, name)) for name in trained}
        for knob, value in _knob_changes(system, task):
            changed = [name for name in trained if _fingerprint(_build(system, task, name, {knob: value})) !=
                       built[name]]
            assert changed, f"{system} {task}: knob {knob}={value!r} changes no variant's model"
            if knob == "dropout":
                for name in trained:
                    model = _build(system, task, name, {knob: value})
                    rates = {module.p for module in model.modules() if isinstance(module, nn.Dropout)}
                    rates |= {module.dropout for module in model.modules()
                              if isinstance(module, nn.LSTM) and module.num_layers > 1}
                    assert rates == {value}, f"{system} {task} {name}"


def test_a_mistyped_hyper_key_names_the_close_knob_and_both_kinds() -> None:
    spec = SYSTEMS.get("hallmen2024")
    engine, model = spec.split_overrides("emi", {"dropout": 0.2, "lr": 1e-3})
    assert (engine, model) == ({"lr": 1e-3}, {"dropout": 0.2})
    with pytest.raises(AbawError, match=r"unknown --hyper key 'dropot'\. Did you mean 'dropout'\? Model knobs of "
                                        r"hallmen2024 on emi: dropout, fusion_hidden, .* Engine knobs: .*\blr\b"):
        spec.split_overrides("emi", {"dropot": 0.2})


def test_knobs_resolve_system_then_preset_then_variant_then_overrides() -> None:
    spec = SYSTEMS.get("hallmen2025")
    variant = spec.variant("emi", "text-vision")
    assert spec.knobs_for("emi", variant, "paper").fusion_hidden == 1027
    assert spec.knobs_for("emi", variant, "tiny").fusion_hidden == 64  # the knob's tiny value
    assert spec.knobs_for("emi", variant, "tiny", {"fusion_hidden": 99}).fusion_hidden == 99
    h24 = SYSTEMS.get("hallmen2024")
    row = h24.variant("emi", "audio-global-unfrozen-dropout")
    assert h24.knobs_for("emi", row, "paper").dropout == 0.1  # the row's
    assert h24.knobs_for("emi", row, "paper", {"dropout": 0.3}).dropout == 0.3


def test_a_variant_setting_a_knob_out_of_its_range_fails_at_import_naming_the_row() -> None:
    from dataclasses import replace

    spec = SYSTEMS.get("hallmen2024")
    row = replace(spec.variant("emi", "audio-global-unfrozen-dropout"), model={"dropout": 1.5})
    with pytest.raises(ValueError, match=r"system 'hallmen2024' variant 'audio-global-unfrozen-dropout': "
                                         r".*dropout 1\.5: expected in \[0, 1\)"):
        replace(spec, variants={**spec.variants, "emi": {**spec.variants["emi"], row.name: row}})
