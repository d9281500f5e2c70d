"""`abaw-bench validate / score / template` through `harness.cli.main`: exit codes, output lines, JSON shapes, and
the demo datasets end to end (template → validate → score, perfect predictions score 1)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
from abaw_bench.harness.cli import main
from abaw_bench.harness.submission import write_submission


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def emi_reference(tmp_path, references):
    path = tmp_path / "sample_ids.txt"
    path.write_text("\n".join(references[("emi", None)]) + "\n")
    return str(path)


def test_validate_valid_file_exits_0(tmp_path, capsys, valid_text, emi_reference):
    sub = tmp_path / "sub.csv"
    sub.write_text(valid_text("emi"))
    code, out, _ = run_cli(capsys, "validate", "--task", "emi", "--reference", emi_reference, str(sub))
    assert code == 0
    assert out.strip().splitlines()[-1].startswith(f"{sub}: VALID: 0 error(s), 0 warning(s)")


def test_validate_invalid_file_lists_problems_and_exits_1(tmp_path, capsys, valid_text, emi_reference):
    sub = tmp_path / "sub.csv"
    sub.write_text(valid_text("emi").replace("0.6\n", "7\n", 1).replace("08073,", "abc,"))
    code, out, _ = run_cli(capsys, "validate", "--task", "emi", "--reference", emi_reference, str(sub))
    lines = out.strip().splitlines()
    assert code == 1
    assert f"{sub}:2: [range] expected Joy in [0, 1], found '7'" in lines
    assert any(line.startswith(f"{sub}:3: [id-format]") for line in lines)
    assert lines[-1].startswith(f"{sub}: INVALID: 4 error(s)")  # range, id-format, ids-missing, ids-extra


def test_validate_json(tmp_path, capsys, valid_text, references):
    reference = tmp_path / "organisers_sample.txt"
    reference.write_text("".join(f"{video},0\n" for video in references[("bah", "video")]))
    sub = tmp_path / "sub.txt"
    sub.write_text(valid_text("bah", "video").replace("0.25,0.75", "0.5,0.75", 1))
    code, out, _ = run_cli(capsys, "validate", "--task", "bah", "--reference", str(reference), str(sub), "--json")
    body = json.loads(out)
    assert code == 1 and body["ok"] is False and body["level"] == "video" and body["level_source"] == "detected"
    assert body["reference_file"] == str(reference) and body["reference_rows"] == 3
    assert body["problems"] == [{"check": "probability-sum", "severity": "error", "line": 1, "count": 1,
                                 "expected": "p0 + p1 = 1 within 1e-06", "found": "1.25 (0.5 + 0.75)"}]


def test_bad_arguments_exit_2(tmp_path, capsys, emi_reference):
    code, _, err = run_cli(capsys, "validate", "--task", "emj", "--reference", emi_reference, str(tmp_path / "x"))
    assert code == 2 and "Did you mean 'emi'" in err
    code, _, err = run_cli(capsys, "validate", "--task", "emi", "--reference", str(tmp_path / "nope"),
                           str(tmp_path / "x"))
    assert code == 2 and "--reference" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", "--task", "emi", "--reference", emi_reference, "--data-root", str(tmp_path), "x"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize("command", ["validate", "score", "template"])
def test_help_ends_with_examples(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    tail = out[out.index("examples:"):]
    assert tail.count("abaw-bench " + command) >= 2 and out.rstrip().endswith(tail.rstrip())


# ------------------------------------------------------------------------------------- demo datasets, end to end

DEMO_CASES = [("emi", None), ("bah", "frame"), ("bah", "video"), ("va", None), ("expr", None)]


@pytest.mark.parametrize(("task", "level"), DEMO_CASES)
def test_template_validates_against_the_demo_test_split(tmp_path, capsys, demo_root, task, level):
    root = str(demo_root(task))
    out_file = tmp_path / "template.csv"
    level_args = ["--level", level] if level else []
    code, out, _ = run_cli(capsys, "template", "--task", task, "--data-root", root, "--out", str(out_file),
                           *level_args)
    assert code == 0 and out_file.is_file() and "DEMO" in out
    code, out, _ = run_cli(capsys, "validate", "--task", task, "--data-root", root, str(out_file), "--json")
    body = json.loads(out)
    assert code == 0 and body["ok"] and body["split"] == "test"
    assert body["data_root"] == root and body["demo"] is True  # the path used, and that it is a demo
    assert body["data_rows"] == body["reference_rows"] > 0
    assert body["level"] == ((level or "frame") if task == "bah" else "default")


@pytest.mark.parametrize(("task", "level"), [("emi", None), ("bah", "frame"), ("bah", "video"), ("va", None)])
def test_score_perfect_predictions_is_one(tmp_path, capsys, demo_root, task, level):
    """Labels written as a submission score exactly 1 (Pearson, F1, CCC): the whole chain aligns rows correctly."""
    from abaw_bench.harness.submission.reference import reader_level
    from abaw_bench.harness.tasks import get_task

    root = demo_root(task)
    labels = get_task(task).reader(root).labels("val", reader_level(task, level or "frame"))
    rows = np.random.default_rng(0).permutation(len(labels)) if task == "emi" else np.arange(len(labels))
    table = labels.reindex([labels.ids[i] for i in rows])
    if level == "video":
        table = type(table)(table.ids, table.values.astype(float), ("pred",))
    sub = tmp_path / "perfect.csv"
    write_submission(task, sub, table, level=level)
    code, out, _ = run_cli(capsys, "score", "--task", task, "--data-root", str(root), str(sub), "--json")
    body = json.loads(out)
    assert code == 0, out
    assert body["value"] == pytest.approx(1.0, abs=1e-12) and body["metric"] and body["breakdown"]
    assert body["task"] == task and body["split"] == "val"
    assert body["data_root"] == str(root) and body["demo"] is True
    assert body["file_sha256"] == hashlib.sha256(sub.read_bytes()).hexdigest()
    assert len(body["manifest_sha256"]) == 64


def test_score_refuses_an_invalid_file(tmp_path, capsys, demo_root):
    root = str(demo_root("va"))
    sub = tmp_path / "bad.csv"
    sub.write_text("image_location,valence,arousal\nnot/a/frame.jpg,0,0\n")
    code, out, _ = run_cli(capsys, "score", "--task", "va", "--data-root", root, str(sub), "--json")
    body = json.loads(out)
    assert code == 1 and body["ok"] is False and "value" not in body
    assert {p["check"] for p in body["validation"]["problems"]} == {"ids-missing", "ids-extra"}
    code, out, _ = run_cli(capsys, "score", "--task", "va", "--data-root", root, str(sub))
    assert code == 1 and "[ids-extra]" in out


def test_score_text_output_says_demo(tmp_path, capsys, demo_root):
    root = str(demo_root("emi"))
    sub = tmp_path / "t.csv"
    run_cli(capsys, "template", "--task", "emi", "--data-root", root, "--split", "val", "--out", str(sub))
    code, out, _ = run_cli(capsys, "score", "--task", "emi", "--data-root", root, str(sub))
    assert code == 0 and "DEMO" in out and "mean_pearson" in out and "file sha256" in out


def test_commands_do_not_import_torch(tmp_path, demo_root):
    root, sub = str(demo_root("emi")), str(tmp_path / "v.csv")
    script = f"""
import sys
from abaw_bench.harness.cli import main
codes = [
    main(["template", "--task", "emi", "--data-root", {root!r}, "--split", "val", "--out", {sub!r}]),
    main(["validate", "--task", "emi", "--data-root", {root!r}, "--split", "val", {sub!r}]),
    main(["score", "--task", "emi", "--data-root", {root!r}, {sub!r}, "--json"]),
]
assert codes == [0, 0, 0], codes
assert "torch" not in sys.modules, "torch was imported"
print("NO-TORCH-OK")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "NO-TORCH-OK" in result.stdout, result.stderr[-2000:]
