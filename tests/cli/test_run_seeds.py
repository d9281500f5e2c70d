"""`abaw-bench run --seeds N`: one run per seed, --seed to --seed+N-1, so a spread is one command away.

The training pipeline is replaced by a recorder: what is tested is the loop over seeds, not training.
"""

from __future__ import annotations

import sys
from types import ModuleType, SimpleNamespace

import pytest
from abaw_bench.harness.cli import main


@pytest.fixture()
def recorded(monkeypatch: pytest.MonkeyPatch) -> list:
    configs: list = []
    fake = ModuleType("abaw_bench.harness.train.pipeline")
    fake.run = lambda config: configs.append(config) or SimpleNamespace(is_main=False)
    monkeypatch.setitem(sys.modules, "abaw_bench.harness.train.pipeline", fake)
    return configs


def test_seeds_runs_one_directory_per_seed(recorded: list, tmp_path) -> None:
    assert main(["run", "--system", "hallmen2024", "--task", "emi", "--variant", "audio-global", "--seed", "3",
                 "--seeds", "3", "--epochs", "2", "--out", str(tmp_path)]) == 0
    assert [config.seed for config in recorded] == [3, 4, 5]
    assert [config.run_dir().name for config in recorded] == ["seed3", "seed4", "seed5"]
    assert {(config.variant, config.epochs, config.out_root) for config in recorded} == {
        ("audio-global", 2, str(tmp_path))}


def test_one_seed_by_default(recorded: list) -> None:
    assert main(["run", "--system", "hallmen2024", "--task", "emi", "--seed", "7"]) == 0
    assert [config.seed for config in recorded] == [7]


def test_seeds_must_be_positive(recorded: list, capsys) -> None:
    with pytest.raises(SystemExit, match="2"):
        main(["run", "--system", "hallmen2024", "--task", "emi", "--seeds", "0"])
    assert "argument --seeds: expected a whole number in [1, 1000], found '0'" in capsys.readouterr().err
    assert recorded == []
