"""Files written by `template`, by a run's submission writer and by the Python API, for every task and level, pass
what the organisers' own validators check: the BAH organisers' validator is published (ids compared in full, as the
release spells them; 2 or 4 fields; pred in {0, 1}; p0 + p1 == 1 exactly); for the other tasks the check is the
official format as the challenge states it (the exact header, the field count, one row per reference row in the
reference order)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from abaw_bench import write_submission as api_write_submission
from abaw_bench.harness.cli import main
from abaw_bench.harness.submission.formats import get_format
from abaw_bench.harness.submission.reference import reader_level
from abaw_bench.harness.tasks import get_task
from abaw_bench.harness.tasks.base import Table
from abaw_bench.harness.train.outputs import write_submissions

CASES = [("emi", None), ("bah", "frame"), ("bah", "video"), ("va", None), ("expr", None)]


def release_video_ids(root: Path, split: str) -> list[str]:
    """The video ids of a BAH split exactly as the release's split file spells them (its first field), in its order:
    read here with the csv module, independently of the harness's reader."""
    with open(root / "split" / f"{split}.txt", newline="", encoding="utf-8") as handle:
        return [row[0] for row in csv.reader(handle) if row]


def organisers_bah_video_check(text: str, release_ids: list[str]) -> list[str]:
    """The BAH organisers' video-level validation: headerless `id,pred` or `id,p0,p1,pred` lines, every id equal
    in full to a release id, each release id once, pred 0 or 1, and p0 + p1 == 1 compared exactly as floats."""
    problems = []
    seen = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split(",")
        if len(fields) not in (2, 4):
            problems.append(f"line {number}: {len(fields)} fields")
            continue
        if fields[0] not in release_ids:
            problems.append(f"line {number}: mismatch of video id {fields[0]!r}")
        if fields[-1] not in ("0", "1"):
            problems.append(f"line {number}: pred {fields[-1]!r}")
        if len(fields) == 4 and float(fields[1]) + float(fields[2]) != 1:
            problems.append(f"line {number}: p0 + p1 = {float(fields[1]) + float(fields[2])!r}")
        seen.append(fields[0])
    if sorted(seen) != sorted(release_ids):
        problems.append("the ids are not the release's videos, each once")
    return problems


def official_format_check(task: str, level: str | None, text: str, rows: list[str]) -> list[str]:
    """The stated format: the exact header (or none), the field count of a row, and the ids in the reference order
    as the format spells them."""
    fmt = get_format(task, level)
    lines = text.splitlines()
    problems = []
    if fmt.header is not None:
        if lines[0] != ",".join(fmt.header):
            problems.append(f"header {lines[0]!r}")
        lines = lines[1:]
    widths = {len(layout) + 1 for layout in fmt.layouts}
    problems += [f"row {i}: {line.count(',') + 1} fields" for i, line in enumerate(lines)
                 if line.count(",") + 1 not in widths]
    if [line.split(",", 1)[0] for line in lines] != [fmt.written_id(row) for row in rows]:
        problems.append("ids are not the reference rows in the reference order")
    return problems


def check_accepted(task: str, level: str | None, text: str, root: Path, split: str) -> None:
    rows = get_task(task).reader(root).reference_rows(split, reader_level(task, level or "frame"))
    assert official_format_check(task, level, text, rows) == []
    if (task, level) == ("bah", "video"):
        assert organisers_bah_video_check(text, release_video_ids(root, split)) == []
        assert text.splitlines()[0].startswith("Videos/")


def write_template(capsys, root: Path, out: Path, task: str, level: str | None) -> Path:
    """`abaw-bench template` for the test split of `root`."""
    levels = ["--level", level] if level else []
    assert main(["template", "--task", task, "--data-root", str(root), "--out", str(out), *levels]) == 0
    capsys.readouterr()
    return out


@pytest.mark.parametrize(("task", "level"), CASES)
def test_template_files_are_accepted(tmp_path, capsys, demo_root, task, level):
    root = demo_root(task)
    out = write_template(capsys, root, tmp_path / "template.txt", task, level)
    check_accepted(task, level, out.read_text(), root, "test")


def test_a_runs_submissions_are_accepted(tmp_path, demo_root):
    """The run's writer (`harness.train.outputs`) on frame-level test predictions: the frame file and both
    video-level aggregations."""
    task = get_task("bah")
    root = demo_root("bah")
    reader = task.reader(root)
    frames = reader.reference_rows("test", "frame")
    p1 = np.random.default_rng(0).random(len(frames))
    predictions = Table(frames, np.stack([(p1 >= 0.5).astype(float), p1], axis=1), ("pred", "p1"),
                        groups=[task.parse_frame_id(frame)[0] for frame in frames])
    written = write_submissions(task, tmp_path, predictions, reader)
    assert {(entry["level"], entry["method"]) for entry in written} == {("frame", ""), ("video", "majority"),
                                                                        ("video", "mean")}
    for entry in written:
        assert entry["report"].ok and entry["report"].problems == [], entry["report"].render()
        check_accepted("bah", entry["level"], Path(entry["path"]).read_text(), root, "test")


@pytest.mark.parametrize(("task", "level"), CASES)
def test_api_files_are_accepted(tmp_path, capsys, demo_root, task, level):
    """A template read with pandas, shuffled, written with the API: byte for byte the template, and accepted."""
    root = demo_root(task)
    template = write_template(capsys, root, tmp_path / "template.txt", task, level)
    frame = pd.read_csv(template, header=None if task == "bah" else 0).sample(frac=1.0, random_state=0)
    out = api_write_submission(task, frame, tmp_path / "api.txt", data_root=root)
    assert out.read_bytes() == template.read_bytes()
    check_accepted(task, level, out.read_text(), root, "test")


def test_the_check_mirrors_what_the_organisers_reject():
    """The mirror itself fails on what the organisers' validator rejects: short ids, an inexact sum, a 3-field line."""
    ids = ["Videos/1/Visite_1/1_Question_1_Video.mp4"]
    assert organisers_bah_video_check(f"{ids[0]},0.25,0.75,1\n", ids) == []
    assert organisers_bah_video_check(f"{ids[0][len('Videos/'):]},0.25,0.75,1\n", ids)
    assert organisers_bah_video_check(f"{ids[0]},0.2500004,0.75,1\n", ids)
    assert organisers_bah_video_check(f"{ids[0]},0.25,0.75\n", ids)
