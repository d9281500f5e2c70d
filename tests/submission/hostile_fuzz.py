"""Hypothesis strategies for hostile submissions (cells and lines of up to 300k characters, control and format
characters), and the property every report must keep. Not a test module: test_fuzz.py runs `fuzz` in a subprocess
under an address-space cap, so that a memory blow-up fails the run instead of swapping the machine.

    python tests/submission/hostile_fuzz.py DIR EXAMPLES    (prints FUZZ-OK <examples> when every example passed)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from abaw_bench.harness.submission import validate_file
from conftest import REFERENCES, valid_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CASES = [("emi", None), ("bah", "frame"), ("bah", "video"), ("va", None), ("expr", None), ("bah", None)]
RENDERED_LINE_LIMIT = 10_000

UNITS = ["1", "9", "0.", "/", ",", '"', " ", "a", "e", "frame-1", "\x1b", "\u202e", "é", "\t"]
LONG_TEXT = st.builds(lambda unit, repeat, tail: unit * repeat + tail, st.sampled_from(UNITS),
                      st.integers(1_000, 300_000), st.sampled_from(["", "x", "1", ",", '"', ".jpg", "\r"]))
CONTROL_TEXT = st.text(st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Zs"]), min_size=1, max_size=24)
HOSTILE = st.lists(st.tuples(st.sampled_from(["replace-field", "append-line", "insert"]),
                             st.integers(min_value=0, max_value=10_000), LONG_TEXT | CONTROL_TEXT),
                   min_size=1, max_size=3)


def make_hostile(text: str, edits: list[tuple[str, int, str]]) -> str:
    for operation, where, payload in edits:
        lines = text.split("\n")
        row = where % len(lines)
        if operation == "replace-field":
            fields = lines[row].split(",")
            fields[where % len(fields)] = payload
            lines[row] = ",".join(fields)
            text = "\n".join(lines)
        elif operation == "append-line":
            text = text + payload + "\n"
        else:
            at = where % (len(text) + 1)
            text = text[:at] + payload + text[at:]
    return text


def reference_for(task: str, level: str | None) -> list[str]:
    return REFERENCES[(task, level if level is not None else "frame")] if task == "bah" else REFERENCES[(task, None)]


def check_report(path: Path, task: str, level: str | None, data: bytes) -> None:
    path.write_bytes(data)
    reference = reference_for(task, level)
    report = validate_file(task, path, reference, level=level)
    json.dumps(report.to_json(), allow_nan=False)
    lines = report.render()
    assert lines[-1] == report.summary() and len(lines) == len(report.problems) + 1
    assert report.ok == all(p.severity == "warning" for p in report.problems)
    for line in lines:
        assert len(line) < RENDERED_LINE_LIMIT and line.isprintable(), line[:200]
    if report.ok:
        assert report.table is not None and sorted(set(report.table.ids)) == sorted(reference)


def fuzz(directory: Path, examples: int) -> None:
    path = directory / "hostile.csv"

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=st.sampled_from(CASES), edits=HOSTILE)
    def hostile_file(case: tuple[str, str | None], edits: list[tuple[str, int, str]]) -> None:
        task, level = case
        text = make_hostile(valid_text(task, level or "frame"), edits)
        check_report(path, task, level, text.encode("utf-8"))

    hostile_file()


if __name__ == "__main__":
    fuzz(Path(sys.argv[1]), int(sys.argv[2]))
    print(f"FUZZ-OK {sys.argv[2]}")
