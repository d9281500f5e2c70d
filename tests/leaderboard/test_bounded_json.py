"""One bounded JSON reader for what users hand the harness (issue 18.7): deep nesting, huge integers, numbers that
overflow and non-finite literals are messages, an oversize file is refused before it is read, a .jsonl file is read
line by line, and one bad results.json among good runs is skipped by name while the leaderboard reports the rest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from abaw_bench.harness import jsonio
from abaw_bench.harness.cli import main
from abaw_bench.harness.errors import AbawError

HOSTILE = {
    "deep nesting": ("[" * 100_000 + "]" * 100_000, "nested deeper than 64 levels"),
    "4300-digit integer": ('{"best_epoch": ' + "9" * 4300 + "}", "an integer of 4,300 digits"),
    "1e400": ('{"value": 1e400}', "the number 1e400 is out of range"),
    "-1e400": ("[-1e400]", "the number -1e400 is out of range"),
    "NaN literal": ('{"value": NaN}', "NaN is not a JSON number"),
    "Infinity literal": ("[Infinity]", "Infinity is not a JSON number"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_json_is_a_message(case: str) -> None:
    text, message = HOSTILE[case]
    with pytest.raises(jsonio.BadJson, match=message):
        jsonio.loads(text)


def test_bounded_json_still_reads_ordinary_json_and_nan_where_allowed() -> None:
    assert jsonio.loads('{"a": [1, 2.5, null, true, "x"]}') == {"a": [1, 2.5, None, True, "x"]}
    assert jsonio.loads("[" * 64 + "]" * 64) is not None
    assert str(jsonio.loads("[NaN]", allow_nonfinite=True)[0]) == "nan"


def test_an_oversize_file_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "results.json"
    with open(path, "wb") as handle:  # sparse: 65 MiB that take no disk and are never read
        handle.truncate(65 << 20)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read before the size check"))
    with pytest.raises(jsonio.BadJson, match=rf"^{path}: 68,157,440 bytes, more than the 67,108,864 read as JSON"):
        jsonio.read_json(path)


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    with pytest.raises(jsonio.BadJson, match="expected a regular JSON file, found a FIFO"):
        jsonio.read_json(fifo)
    with pytest.raises(jsonio.BadJson, match="expected a regular JSON file, found a FIFO"):
        next(jsonio.iter_jsonl(fifo))


def test_a_jsonl_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "train_log.jsonl"
    path.write_text('{"epoch": 1}\n\n{"epoch": 1e400}\n', encoding="utf-8")
    values = jsonio.iter_jsonl(path)
    assert next(values) == {"epoch": 1}
    with pytest.raises(jsonio.BadJson, match=rf"^{path}:3: the number 1e400 is out of range"):
        next(values)


@pytest.mark.parametrize("case", HOSTILE)
def test_one_bad_results_file_is_skipped_and_the_rest_reported(tmp_path: Path, kit, case: str,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    for seed in range(2):
        kit.write_run(runs, "hallmen2024", "audio-global", seed, noise=0.3, demo=False)
    bad = kit.write_run(runs, "hallmen2024", "audio-global", 2, noise=0.3, demo=False) / "results.json"
    bad.write_text(HOSTILE[case][0], encoding="utf-8")
    assert main(["leaderboard", "--task", "emi", "--runs", str(runs), "--resamples", "0"]) == 0
    captured = capsys.readouterr()
    assert f"skipped {bad}: {HOSTILE[case][1]}" in captured.err
    assert "1 malformed results.json file(s) skipped" in captured.err and "Traceback" not in captured.err
    row = next(line for line in captured.out.splitlines() if "hallmen2024/audio-global " in line)
    assert re.search(r"real\s+2\s+0, 1\s", row), row  # the two good runs: n 2, seeds 0 and 1


def test_a_hyper_value_out_of_json_bounds_is_a_message() -> None:
    from abaw_bench.harness.cli.run import parse_hyper

    assert parse_hyper(["recipe=paper", "lr=0.001"]) == {"recipe": "paper", "lr": 0.001}
    for value, message in (("1e400", "the number 1e400 is out of range"), ("NaN", "NaN is not a JSON number"),
                           ("9" * 4300, "an integer of 4,300 digits")):
        with pytest.raises(AbawError, match=f"--hyper lr: {message}"):
            parse_hyper([f"lr={value}"])


def test_a_500_mb_results_file_is_skipped_under_a_256_mib_cap(tmp_path: Path, kit, capped_python) -> None:
    """Issue 18.7's probe: a 500 MB results.json once took 2.5 GB. Sparse, so it costs no disk; a reader that read it
    would need twice the cap for the bytes alone."""
    runs = tmp_path / "runs"
    kit.write_run(runs, "hallmen2024", "audio-global", 0, noise=0.3, demo=False)
    huge = kit.write_run(runs, "hallmen2024", "audio-global", 1, noise=0.3, demo=False) / "results.json"
    with open(huge, "wb") as handle:
        handle.truncate(500 << 20)
    result = capped_python(f"raise SystemExit(main(['leaderboard', '--task', 'emi', '--runs', {str(runs)!r}, "
                           "'--resamples', '0']))",
                           before_cap="from abaw_bench.harness.cli import main\n"
                                      "import abaw_bench.leaderboard.runs, abaw_bench.leaderboard.render")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"skipped {huge}: cannot read the results: 524,288,000 bytes, more than the" in result.stderr
    assert "hallmen2024/audio-global " in result.stdout
