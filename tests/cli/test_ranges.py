"""Every Hyper field and every numeric flag has one declared range (the systems' model knobs: tests/systems/
test_model_knobs.py), and a value outside it is a message naming the
field or flag, the range and the value (issue 18.4). The tests iterate the declarations, so a new numeric field or
flag without a range fails here."""

from __future__ import annotations

import argparse
import functools
import math
from dataclasses import fields

import pytest
from abaw_bench.harness.cli import build_parser
from abaw_bench.harness.cli._common import Ranged
from abaw_bench.harness.systems import HYPER_RANGES, Hyper, Range

NUMERIC_KINDS = ("int", "float")


def _numeric_fields() -> list[str]:
    return [item.name for item in fields(Hyper) if any(kind in item.type for kind in NUMERIC_KINDS)]


def test_every_numeric_hyper_field_has_a_range() -> None:
    assert sorted(set(_numeric_fields()) - set(HYPER_RANGES)) == []
    assert sorted(set(HYPER_RANGES) - set(_numeric_fields())) == []


def _outside(legal: Range, kind: str) -> list[float]:
    """A value just below and just above `legal`, and the non-finite ones."""
    step = 1 if kind == "int" else 1e-3
    below = legal.low if legal.low_open else legal.low - step
    above = legal.high if legal.high_open else legal.high + max(step, abs(legal.high) * 1e-3)
    values = [below, above]
    if kind == "int":
        return [int(value) for value in values]
    return [*values, math.nan, math.inf]


def _bad_hyper_values() -> list[tuple[str, object]]:
    cases: list[tuple[str, object]] = []
    for item in fields(Hyper):
        if item.name not in HYPER_RANGES:
            continue
        kind = "int" if "int" in item.type and "float" not in item.type else "float"
        for value in _outside(HYPER_RANGES[item.name], kind):
            if item.type.startswith("Mapping"):
                cases.append((item.name, {"audio": value}))
            elif item.type.startswith("tuple"):
                cases.append((item.name, (value, 0.5, 0.01) if math.isfinite(value) else (0.1, 0.5, value)))
            else:
                cases.append((item.name, value))
    return cases


@pytest.mark.parametrize(("name", "value"), _bad_hyper_values(), ids=lambda case: str(case))
def test_a_hyper_value_outside_its_range_names_field_range_and_value(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"^Hyper\.{name}\b.* expected .*in [\[(]") as caught:
        Hyper(**{name: value})
    shown = value if not isinstance(value, dict) else value["audio"]
    assert str(shown if not isinstance(shown, tuple) else list(shown)) in str(caught.value)


def test_the_issue_probes_on_hyper() -> None:
    probes = {"grad_clip_norm": -1, "epochs": -3, "lr": -1.0, "batch_size": 0, "stride": -1}
    for name, value in probes.items():
        with pytest.raises(ValueError, match=rf"Hyper\.{name} {value}: expected"):
            Hyper(**{name: value})
    with pytest.raises(ValueError, match=r"lr nan: expected in \(0, 10\]"):
        Hyper(lr=math.nan)
    with pytest.raises(ValueError, match=r"threshold_sweep \[0\.4, 0\.75, 1e-10\]: expected at most 100000"):
        Hyper(threshold_sweep=(0.4, 0.75, 1e-10))


def test_every_registered_system_keeps_to_the_ranges() -> None:
    from abaw_bench.harness.systems import SYSTEMS

    for name in SYSTEMS.names():
        spec = SYSTEMS.get(name)
        for task, variants in spec.variants.items():
            for variant in variants.values():  # builds each row's Hyper and knobs: an out-of-range row raises here
                spec.hyper_for(task, variant)
                for preset in ("paper", "tiny"):
                    spec.knobs_for(task, variant, preset)


@functools.cache
def _numeric_actions() -> list[tuple[str, argparse.Action]]:
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    return [(command, action) for command, parser in commands.items() for action in parser._actions
            if action.type in (int, float) or isinstance(action.type, Ranged)]


def test_every_numeric_flag_declares_a_range() -> None:
    unranged = [f"{command} {action.option_strings}" for command, action in _numeric_actions()
                if not isinstance(action.type, Ranged)]
    assert unranged == []
    assert {(command, action.option_strings[0]) for command, action in _numeric_actions()} >= {
        ("run", "--epochs"), ("run", "--seed"), ("run", "--num-workers"), ("compare", "--resamples")}


def _bad_flag_values() -> list[tuple[str, str, str]]:
    cases = []
    for command, action in _numeric_actions():
        ranged: Ranged = action.type  # type: ignore[assignment]
        kind = "int" if ranged.kind is int else "float"
        texts = [repr(value) if kind == "float" else str(value) for value in _outside(ranged.legal, kind)]
        texts += ["1e11", "1_0"] if kind == "int" else ["1_0.5"]
        cases += [(command, action.option_strings[0], text) for text in texts]
    return cases


@pytest.mark.parametrize(("command", "flag", "text"), _bad_flag_values())
def test_a_flag_outside_its_range_is_a_usage_message(command: str, flag: str, text: str) -> None:
    action = dict((a.option_strings[0], a) for c, a in _numeric_actions() if c == command)[flag]
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected a (whole )?number in [\[(].*, found "):
        action.type(text)


def test_the_issue_probes_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    probes = [(["run", "--system", "hallmen2025", "--task", "bah", "--seed", "-1"], "--seed", "[0, 4294967295]"),
              (["run", "--system", "hallmen2025", "--task", "bah", "--epochs", "0"], "--epochs", "[1, 100000]"),
              (["run", "--system", "hallmen2025", "--task", "bah", "--num-workers", "1000"], "--num-workers", "[0,"),
              (["compare", "a", "b", "--resamples", "1e11"], "--resamples", "[1, 1000000]")]
    for argv, flag, legal in probes:
        with pytest.raises(SystemExit) as caught:
            build_parser().parse_args(argv)
        assert caught.value.code == 2
        assert f"argument {flag}: expected a whole number in {legal}" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["0", "65537", "1_0", "2,1e3", "a", ","])
def test_a_list_of_batch_sizes_reads_each_as_a_ranged_whole_number(capsys: pytest.CaptureFixture[str],
                                                                   text: str) -> None:
    """`profile --batch-sizes` is a list, so not one Ranged flag: each of its sizes is read as one."""
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["profile", "--encoder", "wav2vec2-vad", "--batch-sizes", text])
    assert caught.value.code == 2
    assert "argument --batch-sizes: expected comma-separated batch sizes like 1,2,4,8, each a whole number in " \
           "[1, 65536]" in capsys.readouterr().err
    assert build_parser().parse_args(["profile", "--encoder", "wav2vec2-vad", "--batch-sizes", "1, 2,"]
                                     ).batch_sizes == (1, 2)
