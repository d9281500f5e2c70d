"""Every model setting of the run's resolved Hyper reaches the built model: a `--hyper dropout=…` override recorded in
config.json and results.json is the rate every dropout of the model runs with (no system rebuilds its Hyper from the
variant). Iterates the registry, so a new system or variant is covered without naming it here."""

from __future__ import annotations

import pytest
import torch
from abaw_bench.harness.cli.info import input_dims
from abaw_bench.harness.systems import MODEL_HYPER_FIELDS, SYSTEMS
from torch import nn

OVERRIDES = {"dropout": 0.37}  # a value no system uses by default


def _dropout_rates(model: nn.Module) -> set[float]:
    rates = {module.p for module in model.modules() if isinstance(module, nn.Dropout)}
    stacked = [module for module in model.modules() if isinstance(module, nn.LSTM) and module.num_layers > 1]
    return rates | {module.dropout for module in stacked}  # between stacked LSTM layers


ROWS = [(name, task, variant) for name, spec in SYSTEMS for task in spec.tasks for variant in spec.variants[task]]


def test_every_model_setting_is_overridden_here() -> None:
    assert set(OVERRIDES) == set(MODEL_HYPER_FIELDS)


@pytest.mark.parametrize(("system", "task", "variant_name"), ROWS)
def test_overridden_dropout_is_the_models(system: str, task: str, variant_name: str) -> None:
    spec = SYSTEMS.get(system)
    variant = spec.variant(task, variant_name)
    hyper = spec.hyper_for(task, variant).replace(**OVERRIDES)
    with torch.device("meta"):  # paper widths, no memory
        model = spec.build_model(task, variant, "paper", input_dims(spec, task, variant.inputs, "paper"), hyper)
    if not any(parameter.requires_grad for parameter in model.parameters()):
        assert hyper.epochs == 0  # a constant floor: nothing trains, so no setting of the model can matter
        return
    assert _dropout_rates(model) == {OVERRIDES["dropout"]}
