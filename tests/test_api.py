"""The participants' Python API (`from abaw_bench import ...`): DataFrames in, official files out, reports and
scores back, with messages instead of tracebacks; and `import abaw_bench` stays free of torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from abaw_bench import score_predictions, validate_submission, write_submission
from abaw_bench.harness.cli import main
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.tasks.affwild2 import EXPR_CLASSES


def test_import_abaw_bench_is_light_and_exports_the_api():
    code = ("import sys, abaw_bench\n"
            "light = 'torch' not in sys.modules and 'pandas' not in sys.modules\n"
            "from abaw_bench import write_submission, validate_submission, score_predictions\n"
            "print(light, 'torch' in sys.modules, sorted(abaw_bench.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(" ", 2)
    assert out[0] == "True" and out[1] == "False"
    assert "score_predictions" in out[2] and "validate_submission" in out[2] and "write_submission" in out[2]


def labels_frame(demo_root, task: str, split: str = "val") -> tuple[pd.DataFrame, str]:
    """The split's labels as a predictions DataFrame in the format's columns (a perfect prediction), shuffled."""
    from abaw_bench.harness.submission.formats import get_format
    from abaw_bench.harness.tasks import get_task

    root = demo_root(task)
    labels = get_task(task).reader(root).labels(split)
    fmt = get_format(task)
    frame = pd.DataFrame(labels.values, columns=[column.name for column in fmt.default_layout])
    frame.insert(0, fmt.id_name, labels.ids)
    return frame.sample(frac=1.0, random_state=1), str(root)


@pytest.mark.parametrize("task", ["emi", "va", "expr"])
def test_perfect_predictions_score_one_and_equal_the_cli_score(tmp_path, capsys, demo_root, task):
    frame, root = labels_frame(demo_root, task)
    result = score_predictions(task, frame, data_root=root)
    absent = len(result.extra.get("absent_classes", []))  # Expr: ΣF1/8, and the demo's val split lacks classes
    assert result.value == pytest.approx((8 - absent) / 8 if task == "expr" else 1.0, abs=1e-12) and result.metric
    path = write_submission(task, frame, tmp_path / "val.csv", split="val", data_root=root)
    assert validate_submission(task, path, split="val", data_root=root).valid
    capsys.readouterr()
    assert main(["score", "--task", task, "--data-root", root, str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["value"] == result.value


def test_emi_integer_ids_are_written_zero_padded(tmp_path, demo_root):
    frame, root = labels_frame(demo_root, "emi")
    frame["Filename"] = frame["Filename"].astype(int)  # what read_csv gives without dtype=str
    path = write_submission("emi", frame, tmp_path / "val.csv", split="val", data_root=root)
    assert pd.read_csv(path, dtype={"Filename": str})["Filename"].str.len().eq(5).all()


def test_expr_class_scores_are_reduced_by_argmax(tmp_path, demo_root):
    frame, root = labels_frame(demo_root, "expr")
    scores = np.random.default_rng(0).normal(size=(len(frame), 8))
    with_scores = pd.DataFrame(scores, columns=list(EXPR_CLASSES))
    with_scores.insert(0, "image_location", frame["image_location"].to_numpy())
    path = write_submission("expr", with_scores, tmp_path / "scores.csv", split="val", data_root=root)
    written = pd.read_csv(path)
    order = {row_id: i for i, row_id in enumerate(with_scores["image_location"])}
    expected = scores.argmax(axis=1)[[order[row_id] for row_id in written["image_location"]]]
    np.testing.assert_array_equal(written["Neutral"].to_numpy(), expected)  # the one class-index field per row


def test_bah_video_probabilities_in_any_order(tmp_path, demo_root):
    root = str(demo_root("bah"))
    videos = [line.split(",", 1)[0] for line in (demo_root("bah") / "split" / "test.txt").read_text().splitlines()]
    p1 = np.linspace(0.05, 0.95, len(videos))
    frame = pd.DataFrame({"video-id": videos[::-1], "p1": p1[::-1]})
    path = write_submission("bah", frame, tmp_path / "v.txt", level="video", data_root=root)
    lines = path.read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == videos  # the release's spelling, in its order
    assert all(float(p0) + float(p1) == 1.0 for _, p0, p1, _ in (line.split(",") for line in lines))


def test_write_refuses_missing_extra_repeated_and_non_frames(tmp_path, demo_root):
    frame, root = labels_frame(demo_root, "va")
    out = tmp_path / "va.csv"
    with pytest.raises(AbawError, match=r"1 of the \d+ val rows have no prediction"):
        write_submission("va", frame.iloc[1:], out, split="val", data_root=root)
    with pytest.raises(AbawError, match="appear more than once"):
        write_submission("va", pd.concat([frame, frame.iloc[:1]]), out, split="val", data_root=root)
    with pytest.raises(AbawError, match=r"are not test rows \(they are val rows: pass split='val'\)"):
        write_submission("va", frame, out, data_root=root)
    with pytest.raises(AbawError, match="expected a pandas DataFrame, found ndarray"):
        write_submission("va", frame.to_numpy(), out, split="val", data_root=root)
    nan = frame.copy()
    nan.iloc[3, 1] = np.nan
    with pytest.raises(AbawError, match="NaN or infinite"):
        write_submission("va", nan, out, split="val", data_root=root)
    assert not out.exists()


def test_validate_a_frame_reports_problems_instead_of_raising(demo_root):
    frame, root = labels_frame(demo_root, "emi")
    report = validate_submission("emi", frame.iloc[2:], split="val", data_root=root)
    assert not report.valid and [p.check for p in report.problems] == ["ids-missing"]
    assert "2 missing" in report.problems[0].found
    unreadable = validate_submission("emi", frame.assign(Joy="high"), split="val", data_root=root)
    assert not unreadable.valid and unreadable.problems[0].check == "columns"
    assert "'Joy' holds" in unreadable.problems[0].found
    other_split = validate_submission("emi", frame, data_root=root)
    assert other_split.problems[0].check == "split" and "validate it with split='val'" in other_split.problems[0].found


def test_score_a_test_file_says_which_split(tmp_path, capsys, demo_root):
    root = str(demo_root("emi"))
    template = tmp_path / "t.csv"
    assert main(["template", "--task", "emi", "--data-root", root, "--out", str(template)]) == 0
    capsys.readouterr()
    with pytest.raises(AbawError, match=r"(?s)not a valid emi submission of the val split.*ids of the test split"):
        score_predictions("emi", template, data_root=root)
