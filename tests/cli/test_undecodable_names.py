"""File names whose bytes are not valid UTF-8 (Python decodes them to lone surrogates, PEP 383): printed, stored and
written as `\\xNN`, never a UnicodeEncodeError after the work is done; a video named so is refused up front, since
its name would be a row id of the UTF-8 submission."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from abaw_bench.harness import cli
from abaw_bench.harness.atomic import stored_form, write_json, write_text
from abaw_bench.harness.errors import printable

UNDECODABLE = os.fsdecode(b"runs-\xff")  # the byte 0xff is never valid UTF-8


def test_printable_shows_the_undecodable_byte_and_leaves_text_alone() -> None:
    assert printable(UNDECODABLE) == "runs-\\xff"
    assert printable("x\ud800y") == "x\\ud800y"  # a lone surrogate that is no file-name byte
    assert printable("Übung/été") == "Übung/été"


def test_json_and_text_files_store_the_printable_form(tmp_path: Path) -> None:
    write_json(tmp_path / "results.json", {"out_root": UNDECODABLE, UNDECODABLE: [UNDECODABLE]})
    stored = json.loads((tmp_path / "results.json").read_bytes().decode("utf-8"))
    assert stored == {"out_root": "runs-\\xff", "runs-\\xff": ["runs-\\xff"]} == stored_form(
        {"out_root": UNDECODABLE, UNDECODABLE: (UNDECODABLE,)})
    write_text(tmp_path / "report.md", f"runs under {UNDECODABLE}\n")
    assert (tmp_path / "report.md").read_text(encoding="utf-8") == "runs under runs-\\xff\n"


def test_a_path_printed_on_a_strict_utf8_stdout_is_no_traceback(tmp_path: Path) -> None:
    # A UTF-8 locale other than C.UTF-8 gives Python a strict stdout: there, `demo` printing its --out failed.
    out = os.path.join(os.fsencode(tmp_path), b"demo-\xff")
    done = subprocess.run([sys.executable, "-m", "abaw_bench.harness", "demo", "--task", "va", "--out", out],
                          capture_output=True, env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"})
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")[-2000:]
    assert b"demo-\\xff" in done.stdout and b"Traceback" not in done.stderr


def test_an_aff_wild2_video_with_an_undecodable_name_is_refused_naming_the_file(
        tmp_path: Path, demo_root: Callable[[str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "aff-wild2"
    shutil.copytree(demo_root("va"), root)
    (root / "ABAW_BENCH_DEMO.json").unlink()  # a real root: its split lists come from the annotation files
    renamed = os.fsdecode(b"106\xff-30-640x480")
    annotations = root / "VA_Estimation_Challenge" / "Validation_Set"
    (annotations / "106-30-640x480.txt").rename(annotations / f"{renamed}.txt")
    (root / "cropped_aligned" / "106-30-640x480").rename(root / "cropped_aligned" / renamed)
    code = cli.main(["splits", "--task", "va", "--data-root", str(root)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Validation_Set/106\\xff-30-640x480.txt: the file name is not valid UTF-8" in err
