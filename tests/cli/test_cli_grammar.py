"""One CLI grammar: every command with machine output takes --json, the bootstrap commands spell their seed alike,
`info` and `run` default to the same preset, and `profile --help` lists the encoders without importing torch."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest
from abaw_bench.harness.cli import build_parser, main

MACHINE_OUTPUT = ("systems", "tasks", "splits", "weights", "info", "validate", "score", "compare", "leaderboard",
                  "profile")


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def test_every_command_with_machine_output_takes_json() -> None:
    commands = _subparsers()
    assert [name for name in MACHINE_OUTPUT if "--json" not in _flags(commands[name])] == []


def test_compare_and_leaderboard_spell_the_resampling_flags_alike() -> None:
    commands = _subparsers()
    for name in ("compare", "leaderboard"):
        flags = _flags(commands[name])
        assert {"--resamples", "--bootstrap-seed"} <= flags and "--seed" not in flags, name


def test_info_and_run_default_to_the_same_preset() -> None:
    commands = _subparsers()
    defaults = {name: commands[name].parse_args(["--system", "baseline", "--task", "emi"]).preset
                for name in ("info", "run")}
    assert defaults["info"] == defaults["run"] == "tiny"


def test_leaderboard_json_is_format_json_and_refuses_another_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["leaderboard", "--table", "hallmen2024-emi", "--json"]) == 0
    flag = capsys.readouterr().out
    assert main(["leaderboard", "--table", "hallmen2024-emi", "--format", "json"]) == 0
    assert flag == capsys.readouterr().out and json.loads(flag)["tables"][0]["name"] == "hallmen2024-emi"
    assert main(["leaderboard", "--json", "--format", "csv"]) == 2
    assert "--json and --format csv: give one output format" in capsys.readouterr().err


def test_profile_help_lists_every_encoder_without_importing_torch() -> None:
    script = ("import contextlib, io, json, sys\n"
              "from abaw_bench.harness.cli import main\n"
              "from abaw_bench.harness.encoders import ENCODERS\n"
              "out = io.StringIO()\n"
              "with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
              "    main(['profile', '--help'])\n"
              "print(json.dumps({'help': out.getvalue(), 'encoders': list(ENCODERS.names()),\n"
              "                  'torch': 'torch' in sys.modules}))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False,
                            env={**os.environ, "COLUMNS": "1000"})  # no line wrapped inside a hyphenated name
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert len(shown["encoders"]) >= 10 and shown["torch"] is False
    assert [name for name in shown["encoders"] if name not in shown["help"]] == []
