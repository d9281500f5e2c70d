"""Messages that say the fix: a file written by pandas with its index, with another delimiter, in a shape
`DataFrame.to_csv` cannot produce, with another split's ids, or a task name in the wrong case; each is one message."""

from __future__ import annotations

import pandas as pd
import pytest
from abaw_bench.harness.cli import main


def frame_of(text: str, header: bool = True) -> pd.DataFrame:
    """A valid file's rows as a participant's DataFrame (ids kept as text)."""
    from io import StringIO

    return pd.read_csv(StringIO(text), header=0 if header else None, dtype={0: str, "Filename": str})


def test_a_pandas_index_column_is_one_message_naming_index_false(check, valid_text, tmp_path):
    path = tmp_path / "emi.csv"
    frame_of(valid_text("emi")).to_csv(path)  # the index is written by default
    report = check("emi", path.read_bytes())
    problem, = report.problems
    assert problem.check == "index-column" and problem.line == 1
    assert "written with the index" in problem.found and "to_csv(..., index=False)" in problem.found


def test_an_index_column_before_headerless_rows(check, valid_text, tmp_path):
    path = tmp_path / "bah.txt"
    frame_of(valid_text("bah", "video"), header=False).to_csv(path, header=False)
    report = check("bah", path.read_bytes(), level="video")
    assert [p.check for p in report.problems] == ["index-column"] and report.problems[0].line == 1


def test_consecutive_numeric_ids_are_not_taken_for_an_index(check, valid_text):
    assert check("emi", valid_text("emi")).problems == []  # EMI ids 08072, 08073, ... lead every row


@pytest.mark.parametrize(("separator", "decimal", "name"), [("\t", ".", "tab"), (";", ",", "semicolon")])
def test_another_delimiter_is_named(check, valid_text, tmp_path, separator, decimal, name):
    path = tmp_path / "va.csv"
    frame_of(valid_text("va")).to_csv(path, sep=separator, decimal=decimal, index=False)
    report = check("va", path.read_bytes())
    problem, = report.problems
    assert problem.check == "delimiter" and "comma-separated" in problem.expected
    assert f"{name}-separated fields" in problem.found and "to_csv(path, index=False)" in problem.found
    assert ("(with decimal commas)" in problem.found) == (decimal == ",")


def test_expr_rows_under_the_class_header_name_the_writer(check, valid_text, tmp_path):
    """What `to_csv` gives for an Expr template read back with pandas: 9 fields per row, 7 of them empty."""
    path = tmp_path / "expr.csv"
    frame_of(valid_text("expr")).to_csv(path, index=False)
    problem, = check("expr", path.read_bytes()).problems[:1]
    assert problem.check == "column-count" and problem.count == 6 and problem.line == 2
    assert "DataFrame.to_csv cannot write" in problem.expected
    assert "abaw_bench.write_submission('expr', frame, path)" in problem.expected


@pytest.mark.parametrize(("task", "level"), [("emi", None), ("bah", "video")])
def test_score_on_a_test_template_says_which_split_the_ids_are_from(tmp_path, capsys, demo_root, task, level):
    root = str(demo_root(task))
    out = tmp_path / "template.csv"
    levels = ["--level", level] if level else []
    assert main(["template", "--task", task, "--data-root", root, "--out", str(out), *levels]) == 0
    capsys.readouterr()
    assert main(["score", "--task", task, "--data-root", root, str(out), *levels]) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert "[split] expected ids of the val split, found ids of the test split" in first
    assert "write predictions for the val split" in first


def test_validate_on_a_val_file_says_to_pass_its_split(tmp_path, capsys, demo_root):
    root = str(demo_root("emi"))
    out = tmp_path / "val.csv"
    assert main(["template", "--task", "emi", "--data-root", root, "--split", "val", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["validate", "--task", "emi", "--data-root", root, str(out), "--json"]) == 1
    import json

    problems = json.loads(capsys.readouterr().out)["problems"]
    assert problems[0]["check"] == "split" and problems[0]["found"].endswith("validate it with --split val")


@pytest.mark.parametrize("command", ["validate", "score", "template"])
def test_a_task_name_in_upper_case_gets_the_lower_case_one(tmp_path, capsys, command):
    args = ["--out", str(tmp_path / "x.csv")] if command == "template" else [str(tmp_path / "x.csv")]
    assert main([command, "--task", "EMI", *args]) == 2
    err = capsys.readouterr().err
    assert "unknown task 'EMI'. Did you mean 'emi'?" in err and "Traceback" not in err
