"""`abaw-bench tasks`, `splits` and `demo` through `harness.cli.main`, plus the no-torch import guarantee."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from abaw_bench.harness import cli
from abaw_bench.harness.tasks import get_task

# Commands other issues add may not exist yet; the parser is built from those that do.
AVAILABLE = tuple(name for name in cli.COMMANDS if importlib.util.find_spec(f"abaw_bench.harness.cli.{name}"))


@pytest.fixture(autouse=True)
def _available_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "COMMANDS", AVAILABLE)


def test_tasks_lists_every_task_with_metric_and_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["tasks"]) == 0
    text = capsys.readouterr().out
    for name, metric in (("bah", "weighted_f1"), ("va", "mean_ccc"), ("expr", "macro_f1")):
        assert f"{name}: " in text and f"headline metric: {metric}" in text
    assert cli.main(["tasks", "--json"]) == 0
    tasks = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert tasks["bah"]["levels"] == ["frame", "video"]
    assert "frame-XXXXX.jpg" in tasks["bah"]["submission_formats"]["frame"]["title"]
    assert tasks["va"]["label_columns"] == ["valence", "arousal"]


def test_splits_on_the_demo(capsys: pytest.CaptureFixture[str], demo_root) -> None:
    assert cli.main(["splits", "--task", "bah"]) == 0  # no --data-root: the demo, with a notice
    captured = capsys.readouterr()
    assert "DEMO dataset" in captured.err and "(DEMO data)" in captured.out
    sha = get_task("bah").reader(demo_root("bah")).manifest().sha256()
    assert f"sha256 {sha}" in captured.out and "0 problem(s)" in captured.out
    assert cli.main(["splits", "--task", "expr", "--data-root", str(demo_root("expr")), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["manifest"]["source"] == "repository"
    assert report["splits"]["val"] == {"items": 2, "rows": {"default": 406}}


def test_splits_reports_a_disagreeing_root_with_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       demo_root) -> None:
    root = tmp_path / "bah"
    shutil.copytree(demo_root("bah"), root, copy_function=os.link)
    video = get_task("bah").reader(root).manifest().splits["val"][0]
    (root / "cropped-aligned-faces" / video / "frame-3.jpg").unlink()
    assert cli.main(["splits", "--task", "bah", "--data-root", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"error: val: video {video}: face frames are not contiguous from 0; missing frame-3.jpg" in out
    assert "disagrees with the manifest" in out


def test_unknown_task_suggests_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["splits", "--task", "bha"]) == 2
    assert "Did you mean 'bah'?" in capsys.readouterr().err


def test_demo_writes_refuses_non_empty_and_forces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "aw2"
    assert cli.main(["demo", "--task", "va", "--out", str(out), "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    assert "wrote the affwild2 demo dataset" in printed and "cropped_aligned/" in printed and "DEMO data" in printed
    assert json.loads((out / "ABAW_BENCH_DEMO.json").read_text())["seed"] == 2
    assert get_task("va").reader(out).check() == []
    assert cli.main(["demo", "--task", "va", "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    (out / "keep.txt").write_text("mine")
    shutil.rmtree(out / "audio")
    assert cli.main(["demo", "--task", "expr", "--out", str(out), "--force"]) == 0
    assert (out / "keep.txt").read_text() == "mine" and (out / "audio").is_dir()
    assert json.loads((out / "ABAW_BENCH_DEMO.json").read_text())["seed"] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["aw2"]  # no staging folder left behind


@pytest.mark.parametrize("command", ["tasks", "splits", "demo"])
def test_help_ends_with_examples(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    text = capsys.readouterr().out
    assert "examples:\n" in text and text.rstrip().splitlines()[-1].strip().startswith("abaw-bench")


def test_tasks_and_splits_do_not_import_torch(demo_root) -> None:
    script = (
        "import sys\n"
        "from abaw_bench.harness import cli\n"
        f"cli.COMMANDS = {AVAILABLE!r}\n"
        "assert cli.main(['tasks']) == 0\n"
        f"assert cli.main(['splits', '--task', 'bah', '--data-root', {str(demo_root('bah'))!r}]) == 0\n"
        f"assert cli.main(['splits', '--task', 'va', '--data-root', {str(demo_root('va'))!r}]) == 0\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("NO-TORCH")
