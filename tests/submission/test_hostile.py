"""Hostile input, one test per class: cells and ids of a megabyte, a line of a million commas, control characters,
FIFOs and devices. Every case runs in a subprocess with a time limit (a hang is a failure, not a stuck suite) and,
for file contents, under an address-space cap of 256 MiB beyond the interpreter's own, so a memory blow-up ends in a
MemoryError, as it did before the validator bounded its memory."""

from __future__ import annotations

import json
import os

import pytest
from abaw_bench.harness.submission.checks import MAX_NUMBER_CHARS, is_number, show

MEGABYTE = 1_000_000
RENDERED_LINE_LIMIT = 10_000  # a report line quotes a bounded prefix of any value, never the whole megabyte

SCENARIOS = r"""
import json, signal, sys
from pathlib import Path

out = Path(sys.argv[1])
frames = [f"p{p:03d}/Visite_1/p{p:03d}_Question_1_Video.mp4/frame-{i:05d}.jpg" for p in range(4) for i in range(250)]
emi_ids = [f"{i:05d}" for i in range(8072, 8078)]
va_ids = [f"video{v}/{i:05d}.jpg" for v in (1, 2) for i in range(1, 4)]
videos = [f"p{p:02d}/Visite_1/p{p:02d}_Question_1_Video.mp4" for p in range(1, 4)]
emi_rows = [f"{i},0.1,0.2,0.3,0.4,0.5,0.6" for i in emi_ids]
emi_header = "Filename,Admiration,Amusement,Determination,Empathic Pain,Excitement,Joy"
va_rows = [f"{i},0.5,-0.5" for i in va_ids]
frame_rows = [f"{frame},{i % 2}" for i, frame in enumerate(frames)]
M = 1_000_000
cases = {
    # a valid-looking number of a million digits: the old value-type check built a rows x 1M x 4-byte array (4 GB)
    "long-number": ("bah", "frame", frames, [*frame_rows[:500], frames[500] + "," + "1" * M, *frame_rows[501:]]),
    # a digit run ending in a non-digit: the old number pattern backtracked for hours
    "long-digit-run": ("va", None, va_ids, ["image_location,valence,arousal", va_rows[0],
                                             va_ids[1] + ",0.5," + "1" * M + "x", *va_rows[2:]]),
    "long-id": ("emi", None, emi_ids, [emi_header, *emi_rows, "1" * M + ",0,0,0,0,0,0"]),
    "long-slash-id": ("bah", "frame", frames, [*frame_rows, "/" * M + ",1"]),
    "many-commas": ("bah", "video", videos, [f"{v},1" for v in videos] + ["," * M]),
    "quoted-commas": ("bah", "video", videos, [f"{v},1" for v in videos] + ['"a",' * (M // 4)]),
    "control-characters": ("va", None, va_ids, ["image_location,valence,arousal", va_rows[0],
                                                 "vid\x1b[31m\x07eo\u202e\u2028x/00002.jpg,0.5,0.5",
                                                 va_ids[2] + ",\x1b[2J,0.5", *va_rows[3:]]),
}

def hang(*_):
    raise TimeoutError("no report within 10 s")


signal.signal(signal.SIGALRM, hang)
results = {}
for name, (task, level, reference, lines) in cases.items():  # each case fails alone: a hang or a blow-up is recorded
    path = out / f"{name}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    signal.alarm(10)
    try:
        report = validate_file(task, path, reference, level=level)
        results[name] = {"ok": report.ok, "level": report.level, "render": report.render(),
                         "problems": [p.to_json() for p in report.problems], "json": json.dumps(report.to_json())}
    except (MemoryError, TimeoutError) as error:
        results[name] = {"error": f"{type(error).__name__}: {str(error)[:200]}"}
    finally:
        signal.alarm(0)
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def hostile(run_capped, tmp_path_factory) -> dict[str, dict]:
    """Reports of every hostile file, validated in one capped subprocess (a case that hangs for 10 s or runs out of
    memory is recorded as an error)."""
    out = tmp_path_factory.mktemp("hostile")
    result = run_capped(f"import sys; sys.argv = ['-', {str(out)!r}]\n" + SCENARIOS, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def report_of(hostile: dict[str, dict], name: str) -> dict:
    report = hostile[name]
    assert "error" not in report, report.get("error")
    return report


def checks_of(report: dict) -> list[str]:
    return [problem["check"] for problem in report["problems"]]


def assert_bounded(report: dict) -> None:
    """Every rendered line is short and printable: control characters are escaped, values cut."""
    for line in report["render"]:
        assert len(line) < RENDERED_LINE_LIMIT and line.isprintable(), line[:300]
    assert len(report["json"]) < 20 * RENDERED_LINE_LIMIT


def test_number_cell_longer_than_the_limit_is_refused_without_parsing(hostile):
    report = report_of(hostile, "long-number")
    assert not report["ok"] and report["level"] == "frame"
    problem = next(p for p in report["problems"] if p["check"] == "value-type")
    assert problem["line"] == 501 and f"at most {MAX_NUMBER_CHARS} characters" in problem["expected"]
    assert "1,000,000 characters" in problem["found"]
    assert_bounded(report)


def test_digit_run_ending_in_a_letter_does_not_hang(hostile):
    report = report_of(hostile, "long-digit-run")
    assert checks_of(report) == ["value-type"] and report["problems"][0]["line"] == 3
    assert_bounded(report)


def test_megabyte_ids_are_reported_with_a_bounded_prefix(hostile):
    long_id = report_of(hostile, "long-id")
    assert {"id-format", "ids-extra"} <= set(checks_of(long_id))
    assert any("at most 4,096 characters" in p["expected"] for p in long_id["problems"])
    slashes = report_of(hostile, "long-slash-id")  # a path of a million slashes: normalised in linear time
    assert "ids-extra" in checks_of(slashes)
    assert_bounded(long_id)
    assert_bounded(slashes)


@pytest.mark.parametrize("name", ["many-commas", "quoted-commas"])
def test_a_line_of_a_million_commas(hostile, name):
    report = report_of(hostile, name)
    problem = next(p for p in report["problems"] if p["check"] == "column-count")
    assert problem["line"] == 4 and "fields" in problem["found"]
    assert_bounded(report)


def test_control_characters_are_escaped_in_messages(hostile):
    report = report_of(hostile, "control-characters")
    assert {"ids-extra", "value-type"} <= set(checks_of(report))
    rendered = "\n".join(report["render"])
    assert "\\x1b[31m\\x07" in rendered and "\\u202e\\u2028" in rendered and "\x1b" not in rendered
    assert_bounded(report)


def test_show_quotes_a_bounded_escaped_prefix():
    assert show("a\nb") == "'a\\nb'"
    long = show("7" * MEGABYTE)
    assert len(long) < 100 and long.endswith("(1,000,000 characters)")
    assert is_number("1" * MAX_NUMBER_CHARS) and not is_number("1" * (MAX_NUMBER_CHARS + 1))


# ------------------------------------------------------------------------------------- paths that are not files

SPECIAL_FILES = r"""
import json, os, sys
from pathlib import Path
from abaw_bench.harness.cli import main
from abaw_bench.harness.errors import AbawError
from abaw_bench.harness.submission import read_submission

out, emi_demo = Path(sys.argv[1]), sys.argv[2]
fifo = out / "fifo.csv"
os.mkfifo(fifo)
ids = out / "ids.txt"
ids.write_text("08072\n")
sub = out / "sub.csv"
sub.write_text("Filename,Admiration,Amusement,Determination,Empathic Pain,Excitement,Joy\n8072,0,0,0,0,0,0\n")
results = {}
for name, path in {"fifo": fifo, "device": Path(os.devnull), "directory": out}.items():
    report = validate_file("emi", path, ["08072"])
    results[name] = [p.to_json() for p in report.problems]
results["cli-validate"] = main(["validate", "--task", "emi", "--reference", str(ids), str(fifo)])
results["cli-reference"] = main(["validate", "--task", "emi", "--reference", str(fifo), str(sub)])
results["cli-score"] = main(["score", "--task", "emi", "--data-root", emi_demo, str(fifo)])
try:
    read_submission("emi", fifo)
except AbawError as error:
    results["read"] = str(error)
print(json.dumps(results))
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs need a POSIX system")
def test_fifo_device_and_directory_are_refused_before_opening(run_capped, tmp_path, demo_root):
    result = run_capped(f"import sys; sys.argv = ['-', {str(tmp_path)!r}, {str(demo_root('emi'))!r}]\n"
                        + SPECIAL_FILES)
    assert result.returncode == 0, result.stderr[-3000:]
    body = json.loads(result.stdout.strip().splitlines()[-1])
    for name, kind in (("fifo", "a FIFO (named pipe)"), ("device", "a character device"),
                       ("directory", "a directory")):
        assert body[name] == [{"check": "file", "severity": "error", "line": None, "count": 1,
                               "expected": "a regular file", "found": kind}]
    assert body["cli-validate"] == 1 and body["cli-score"] == 1
    assert body["cli-reference"] == 2 and "--reference" in result.stderr and "FIFO" in result.stderr
    assert "cannot read the submission" in body["read"] and "FIFO" in body["read"]
    assert "Traceback" not in result.stderr


def test_a_path_with_control_characters_is_escaped_in_the_report(check, valid_text):
    report = check("va", valid_text("va").replace("0.25", "2", 1), name="sub\nmitted\x1b.csv")
    assert report.file.endswith("sub\\nmitted\\x1b.csv")
    assert all(line.isprintable() for line in report.render())

