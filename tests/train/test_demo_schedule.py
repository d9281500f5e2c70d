"""Demo schedules: a run on the embedded demo takes its system's demo schedule, a real data root the paper's, and
every flag or --hyper override wins over the schedule."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from abaw_bench.harness.systems import SYSTEMS, Hyper, get_system
from abaw_bench.harness.train.config import RunConfig
from abaw_bench.harness.train.pipeline import demo_schedule_in_effect, resolve_hyper

ROWS = [(spec.name, task, name) for _, spec in SYSTEMS for task in spec.tasks for name in spec.variants[task]]


def _config(system: str, task: str, variant: str, **options: object) -> RunConfig:
    return RunConfig(**{"system": system, "task": task, "variant": variant, "preset": "tiny", "data_root": None,
                        "out_root": "runs", **options})


def test_every_system_declares_a_demo_schedule_for_each_trained_task() -> None:
    for _, spec in SYSTEMS:
        for task in spec.tasks:
            trained = [v for v in spec.variants[task].values() if spec.hyper_for(task, v).epochs > 0]
            if trained and spec.name != "baseline":  # the baseline's VA/Expr frame head trains fast as published
                assert spec.demo.get(task) or all(v.demo for v in trained), (spec.name, task)


@pytest.mark.parametrize(("system", "task", "variant"), ROWS)
def test_each_rows_demo_schedule_resolves_and_lands_in_its_hyper(system: str, task: str, variant: str) -> None:
    spec = get_system(system)
    row = spec.variant(task, variant)
    schedule = spec.demo_schedule(task, row)
    names = {item.name for item in fields(Hyper)}
    assert set(schedule) <= names, f"{system}/{variant}: unknown fields {set(schedule) - names}"
    hyper = resolve_hyper(spec, task, row, _config(system, task, variant))
    recipe = schedule.get("recipe")
    expected = spec.hyper_for(task, row, recipe).replace(**{k: v for k, v in schedule.items() if k != "recipe"})
    assert hyper == expected


def test_a_real_data_root_gets_the_papers_schedule(tmp_path: Path) -> None:
    spec = get_system("hallmen2025")
    row = spec.variant("bah", None)
    config = _config("hallmen2025", "bah", row.name, data_root=str(tmp_path))  # no demo marker: a real root
    assert demo_schedule_in_effect(spec, "bah", row, config) == {}
    assert resolve_hyper(spec, "bah", row, config) == spec.hyper_for("bah", row)
    demo = resolve_hyper(spec, "bah", row, _config("hallmen2025", "bah", row.name))
    assert demo.epochs != spec.hyper_for("bah", row).epochs and demo.frame_step == 24


def test_flags_and_hyper_overrides_win_over_the_demo_schedule() -> None:
    spec = get_system("wen2024")
    row = spec.variant("va", None)
    config = _config("wen2024", "va", row.name, epochs=2, hyper_overrides={"window": 32})
    assert demo_schedule_in_effect(spec, "va", row, config) == {"batch_size": 8, "lr": 3e-3, "stride": 32}
    hyper = resolve_hyper(spec, "va", row, config)
    assert (hyper.epochs, hyper.window, hyper.stride, hyper.lr) == (2, 32, 32, 3e-3)


def test_a_rows_own_settings_win_over_the_systems_demo_schedule() -> None:
    wen2024 = get_system("wen2024")
    for name in ("efficientnetv2-lr1e-3", "efficientnetv2-lr5e-4"):
        row = wen2024.variant("expr", name)
        assert resolve_hyper(wen2024, "expr", row, _config("wen2024", "expr", name)).lr == row.hyper["lr"]
    baseline = get_system("baseline")
    floor = baseline.variant("emi", "constant-mean")
    assert resolve_hyper(baseline, "emi", floor, _config("baseline", "emi", "constant-mean")).epochs == 0
    twin = get_system("hallmen2025").variant("bah", "text-frozen")
    assert get_system("hallmen2025").demo_schedule("bah", twin)["epochs"] == 15  # the twin: the system's, not 4

