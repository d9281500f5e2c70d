"""The data root `validate`, `score` and `template` read: another task's demo is refused, a root without the split's
rows is an error about the root (exit 2) naming what was looked for, and `--json` reports the path actually used."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from abaw_bench.harness.cli import main
from abaw_bench.harness.paths import DEMO_MARKER


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def emi_file(tmp_path, valid_text):
    path = tmp_path / "emi.csv"
    path.write_text(valid_text("emi"))
    return str(path)


@pytest.mark.parametrize("command", ["validate", "score"])
def test_a_demo_root_of_another_task_is_refused(capsys, demo_root, emi_file, command):
    bah_demo = str(demo_root("bah"))
    code, out, err = run_cli(capsys, command, "--task", "emi", "--data-root", bah_demo, emi_file)
    assert code == 2 and out == ""
    assert f"--data-root {bah_demo}: holds the demo dataset of task(s) bah" in err
    assert "not the emi dataset" in err and "Traceback" not in err


def test_template_refuses_another_tasks_demo_and_va_expr_share_one(capsys, tmp_path, demo_root):
    code, _, err = run_cli(capsys, "template", "--task", "va", "--data-root", str(demo_root("emi")), "--out",
                           str(tmp_path / "va.csv"))
    assert code == 2 and "holds the demo dataset of task(s) emi" in err and not (tmp_path / "va.csv").exists()
    code, _, _ = run_cli(capsys, "template", "--task", "expr", "--data-root", str(demo_root("va")), "--out",
                         str(tmp_path / "expr.csv"))
    assert code == 0  # Aff-Wild2 holds both VA and Expr


def test_an_unreadable_demo_marker_is_an_error(capsys, tmp_path, emi_file):
    (tmp_path / DEMO_MARKER).write_text("[1, 2")
    code, _, err = run_cli(capsys, "validate", "--task", "emi", "--data-root", str(tmp_path), emi_file)
    assert code == 2 and f"demo marker {DEMO_MARKER} cannot be read" in err


@pytest.mark.parametrize(("task", "looked_for"), [
    ("emi", "test_data/audio"),
    ("va", "VA_Estimation_Challenge/test_set.txt"),
    ("expr", "EXPR_Recognition_Challenge/test_set.txt"),
])
def test_a_root_without_reference_rows_is_an_error_about_the_root(capsys, tmp_path, headers, task, looked_for):
    root = tmp_path / "empty"
    root.mkdir()
    header_only = tmp_path / "header.csv"
    header_only.write_text(headers[task] + "\n")
    for command in ("validate", "score"):
        code, out, err = run_cli(capsys, command, "--task", task, "--data-root", str(root), "--split", "test",
                                 str(header_only))
        assert code == 2 and out == "", (command, out)
        assert f"data root {root}: no test rows of task {task} there; looked for" in err
        assert looked_for in err


def test_bah_root_without_frames_names_where_it_looked(capsys, tmp_path, demo_root, references):
    root = tmp_path / "bah"
    (root / "split").mkdir(parents=True)
    for split in ("train", "val", "test"):
        shutil.copy(demo_root("bah") / "split" / f"{split}.txt", root / "split" / f"{split}.txt")
    frames = tmp_path / "frames.txt"
    frames.write_text("".join(f"{frame},0\n" for frame in references[("bah", "frame")]))
    code, _, err = run_cli(capsys, "validate", "--task", "bah", "--data-root", str(root), str(frames))
    assert code == 2 and "no test rows of task bah at frame level there" in err
    assert "split-frames/test.txt" in err and "cropped-aligned-faces" in err


def test_json_reports_the_root_used_not_demo(capsys, tmp_path, demo_root):
    root = demo_root("emi")
    sub = tmp_path / "t.csv"
    assert run_cli(capsys, "template", "--task", "emi", "--data-root", str(root), "--out", str(sub))[0] == 0
    code, out, _ = run_cli(capsys, "validate", "--task", "emi", "--data-root", str(root), str(sub), "--json")
    body = json.loads(out)
    assert code == 0 and body["data_root"] == str(root) and body["demo"] is True
    code, out, _ = run_cli(capsys, "validate", "--task", "emi", str(sub), "--json")  # no --data-root: the demo
    assert code == 0 and json.loads(out)["data_root"] == str(root)


def test_paths_imports_no_other_harness_module():
    """harness.paths is the module everything may import; importing it must not pull in the demo generators (the old
    paths <-> demo cycle) or anything else of the harness but the standard-library-only JSON reader and the file
    reader under it (with the errors module it raises from), nor numpy."""
    script = ("import sys, abaw_bench.harness.paths\n"
              "print(sorted(m for m in sys.modules if m.startswith('abaw_bench.') or m == 'numpy'))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == ("['abaw_bench.harness', 'abaw_bench.harness.errors', 'abaw_bench.harness.files', "
                                     "'abaw_bench.harness.jsonio', 'abaw_bench.harness.paths']")
