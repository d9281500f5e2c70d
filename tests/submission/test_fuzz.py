"""Fuzzing the validator with hypothesis: random bytes, mutated valid files and random CSV-ish text (2,100 inputs in
all), then hostile files (cells and lines of up to 300k characters, control characters; `hostile_fuzz.py`) under an
address-space cap. Whatever the input, `validate_file` returns a report — no exception escapes — and the report is
coherent, its lines short and printable."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest
from abaw_bench.harness.submission import validate_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CASES = [("emi", None), ("bah", "frame"), ("bah", "video"), ("va", None), ("expr", None), ("bah", None)]
FUZZ = settings(max_examples=700, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def fuzz_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "fuzz.csv"


def validate_and_check(path: Path, task: str, level: str | None, data: bytes, reference: list[str]) -> None:
    path.write_bytes(data)
    report = validate_file(task, path, reference, level=level)
    json.dumps(report.to_json(), allow_nan=False)  # structured records are always serialisable
    lines = report.render()
    assert lines[-1] == report.summary() and len(lines) == len(report.problems) + 1
    assert report.ok == all(p.severity == "warning" for p in report.problems)
    if report.ok:
        assert report.table is not None and sorted(set(report.table.ids)) == sorted(reference)


def _reference(references, task: str, level: str | None) -> list[str]:
    if task == "bah" and level is None:
        return references[("bah", "frame")]
    return references[(task, level if task == "bah" else None)]


@FUZZ
@given(case=st.sampled_from(CASES), data=st.binary(max_size=400))
def test_random_bytes(fuzz_file, references, case, data):
    validate_and_check(fuzz_file, *case, data, _reference(references, *case))


MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["delete", "insert", "replace", "duplicate-line", "swap-lines", "truncate", "crlf", "bom8",
                         "utf16", "nul", "bare-cr", "blank-line"]),
        st.integers(min_value=0, max_value=10_000),
        st.binary(min_size=1, max_size=8) | st.sampled_from([b",", b"\n", b"nan", b"-1e309", b'"', b"1.0", b" "]),
    ),
    min_size=1, max_size=4,
)


def mutate(data: bytes, mutations: list[tuple[str, int, bytes]]) -> bytes:
    for operation, position, payload in mutations:
        at = position % (len(data) + 1)
        lines = data.split(b"\n")
        row = position % len(lines)
        if operation == "delete":
            data = data[:at] + data[at + len(payload):]
        elif operation == "insert":
            data = data[:at] + payload + data[at:]
        elif operation == "replace":
            data = data[:at] + payload + data[at + len(payload):]
        elif operation == "duplicate-line":
            data = b"\n".join([*lines[:row], lines[row], *lines[row:]])
        elif operation == "swap-lines":
            other = (row + 1) % len(lines)
            lines[row], lines[other] = lines[other], lines[row]
            data = b"\n".join(lines)
        elif operation == "truncate":
            data = data[:at]
        elif operation == "crlf":
            data = data.replace(b"\n", b"\r\n")
        elif operation == "bom8":
            data = codecs.BOM_UTF8 + data
        elif operation == "utf16":
            data = data.decode("utf-8", errors="replace").encode("utf-16")
        elif operation == "nul":
            data = data[:at] + b"\x00" + data[at:]
        elif operation == "bare-cr":
            data = data.replace(b"\n", b"\r", 1)
        else:
            data = b"\n".join([*lines[:row], b"", *lines[row:]])
    return data


@FUZZ
@given(case=st.sampled_from(CASES), mutations=MUTATIONS)
def test_mutated_valid_files(fuzz_file, references, valid_text, case, mutations):
    task, level = case
    text = valid_text(task, level or "frame")
    validate_and_check(fuzz_file, task, level, mutate(text.encode(), mutations), _reference(references, task, level))


CELL = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-3, 10).map(str),
    st.text(alphabet="az09.-+eE ,;\t\"'\r\x1c\x85\u00e9\u2028\u0661\ufeff", max_size=6),
    st.sampled_from(["00001", "8072", "08072", "Filename", "image_location", "v/00001.jpg", '"a,b"', '"', ""]),
)
CSVISH = st.lists(st.lists(CELL, min_size=0, max_size=10).map(",".join), max_size=12).map("\n".join)


@FUZZ
@given(case=st.sampled_from(CASES), text=CSVISH, header=st.booleans())
def test_random_csvish_text(fuzz_file, references, headers, case, text, header):
    task, level = case
    prefix = headers[task] + "\n" if header and task in headers else ""
    validate_and_check(fuzz_file, task, level, (prefix + text).encode("utf-8"), _reference(references, task, level))


HOSTILE_EXAMPLES = 200


def test_hostile_files_under_a_memory_cap(run_capped, tmp_path):
    """The hostile strategies in a subprocess whose address space may grow by 256 MiB at most: a megabyte-sized
    cell must cost the validator a small multiple of its size, not rows x longest cell."""
    here = Path(__file__).parent
    setup = f"import sys; sys.path.insert(0, {str(here)!r}); import hostile_fuzz"
    result = run_capped(f"hostile_fuzz.fuzz(__import__('pathlib').Path({str(tmp_path)!r}), {HOSTILE_EXAMPLES})\n"
                        f"print('FUZZ-OK')", timeout=240, before_cap=setup)
    assert result.returncode == 0 and "FUZZ-OK" in result.stdout, result.stderr[-4000:]
