"""`abaw-bench leaderboard`: text / JSON / Markdown output, placing runs from results.json files, bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from abaw_bench.harness.cli import main


def _results(system: str, variant: str, value: float | None, *, demo: bool, task: str = "emi",
             metric: str = "mean_pearson", random: tuple[str, ...] = ()) -> dict:
    """A results.json as `abaw-bench run` writes it (harness/provenance.py), with the fields the leaderboard reads."""
    return {
        "schema_version": 1, "system": system, "task": task, "variant": variant, "row": "(ignored)",
        "preset": "tiny" if demo else "paper",
        "val": None if value is None else {"metric": metric, "value": value, "breakdown": {}, "extra": {},
                                            "warnings": []},
        "data": {"root": "demo" if demo else "/data/emi", "demo": demo, "manifest_sha256": "0" * 64},
        "encoders": {name: {"encoder": name, "fingerprint": "f", "weights": "w", "random_weights": name in random}
                     for name in ("wav2vec2-vad", *random)},
        "provenance": {"git_commit": "unknown", "seed": 0},
    }


@pytest.fixture()
def runs_dir(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    documents = {
        "demo-run/results.json": _results("hallmen2024", "audio-global-unfrozen", 0.71234, demo=True,
                                          random=("vit-h14",)),
        "real-run/results.json": _results("hallmen2024", "audio-global-unfrozen", 0.377, demo=False),
        "floor/results.json": _results("baseline", "constant-mean", None, demo=True),
        "wrong-metric/results.json": _results("hallmen2024", "audio", 0.5, demo=True, metric="mean_ccc"),
        "bad-field/results.json": {**_results("hallmen2024", "audio", 0.3, demo=True), "data": {"demo": "yes"}},
    }
    for relative, document in documents.items():
        (root / relative).parent.mkdir(parents=True)
        (root / relative).write_text(json.dumps(document), encoding="utf-8")
    (root / "truncated").mkdir()
    (root / "truncated" / "results.json").write_text('{"system": "hallmen2024", "task"', encoding="utf-8")
    return root


def _cells(output: str, label: str) -> list[list[str]]:
    """The tabulate line of a row and its continuation lines (blank label: further runs), split into cells."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(label + "  "))
    block = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith(" ") or not line.strip():
            break
        block.append(line)
    return [re.split(r"\s{2,}", line.strip()) for line in block]


def test_text_lists_every_table_in_source_order(capsys) -> None:
    assert main(["leaderboard"]) == 0
    out = capsys.readouterr().out
    headings = [line.split("  ·  ")[0] for line in out.splitlines() if "  ·  task " in line]
    assert headings == ["hallmen2024-emi", "hallmen2025-emi", "hallmen2025-bah", "wen2024-va", "wen2024-expr"]
    assert _cells(out, "+ global + unfrozen + dropout") == [
        ["+ global + unfrozen + dropout", ".389", ".465", "hallmen2024/audio-global-unfrozen-dropout"]]
    assert _cells(out, "MCTN CLIP-large/WavLM") == [["MCTN CLIP-large/WavLM", ".6943"]]
    assert "DEMO" not in out and "run dir" not in out  # no run columns without --runs


def test_task_and_table_selection(capsys) -> None:
    assert main(["leaderboard", "--task", "emi"]) == 0
    out = capsys.readouterr().out
    assert "hallmen2024-emi  ·" in out and "hallmen2025-emi  ·" in out and "hallmen2025-bah" not in out
    assert main(["leaderboard", "--table", "wen2024-expr", "--task", "expr"]) == 0
    out = capsys.readouterr().out
    assert "wen2024-expr  ·" in out and "wen2024-va" not in out
    assert _cells(out, "Attention MobileNetV3 lr .0005") == [["Attention MobileNetV3 lr .0005", ".263"]]


@pytest.mark.parametrize(("argv", "message"), [
    (["--table", "hallmen2024-em"], "unknown table 'hallmen2024-em'. Did you mean 'hallmen2024-emi'"),
    (["--task", "exp"], "unknown task 'exp'. Did you mean 'expr'?"),
    (["--table", "wen2024-va", "--task", "emi"], "table 'wen2024-va' is a table of task 'va', not of task 'emi'"),
    (["--runs", "no/such/dir"], "--runs no/such/dir: not a directory"),
])
def test_bad_selection_is_a_clean_error(capsys, argv: list[str], message: str) -> None:
    assert main(["leaderboard", *argv]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_runs_are_placed_beside_their_row_and_marked(capsys, runs_dir: Path) -> None:
    assert main(["leaderboard", "--table", "hallmen2024-emi", "--runs", str(runs_dir)]) == 0
    captured = capsys.readouterr()
    assert _cells(captured.out, "+ global + unfrozen") == [
        ["+ global + unfrozen", ".386", ".461", "hallmen2024/audio-global-unfrozen", ".712", "DEMO",
         "RANDOM: vit-h14", "demo-run"],
        [".377", "real", "no random", "real-run"],
    ]
    assert _cells(captured.out, "Audio-only train") == [["Audio-only train", ".262", "–", "hallmen2024/audio"]]
    assert "runs that reproduce no paper row:" in captured.out
    assert "baseline/constant-mean" in captured.out
    assert "data DEMO:" in captured.out and "does not reproduce the paper" in captured.out
    err = captured.err
    assert f"skipped {runs_dir / 'bad-field' / 'results.json'}: field 'data.demo': expected true or false" in err
    assert f"skipped {runs_dir / 'truncated' / 'results.json'}: line 1" in err
    assert "reports 'mean_ccc', but table hallmen2024-emi row 'Audio-only train' is 'mean_pearson'" in err
    assert "2 malformed results.json file(s) skipped" in err
    assert "Traceback" not in err


def test_json_output(capsys, runs_dir: Path) -> None:
    assert main(["leaderboard", "--task", "emi", "--runs", str(runs_dir), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [table["name"] for table in document["tables"]] == ["hallmen2024-emi", "hallmen2025-emi"]
    rows = {row["label"]: row for row in document["tables"][0]["rows"]}
    assert rows["train+val global+unfrozen"]["figures"] == {"val": None, "test": 0.522}
    runs = rows["+ global + unfrozen"]["runs"]
    assert [(run["value"], run["demo"], run["random_weights"], run["random_encoders"]) for run in runs] == [
        (0.71234, True, True, ["vit-h14"]), (0.377, False, False, [])]
    assert rows["Audio-only train"]["runs"] == []
    assert [run["variant"] for run in document["unplaced_runs"]] == ["constant-mean"]
    assert sorted(Path(item["path"]).parent.name for item in document["skipped"]) == ["bad-field", "truncated"]
    assert len(document["not_placed"]) == 1
    # the 2025 table links the 2024 system's best row too: the same runs are not placed there (different variant)
    assert all(row["runs"] == [] for row in document["tables"][1]["rows"])


def test_json_without_runs_round_trips_the_tables(capsys) -> None:
    assert main(["leaderboard", "--table", "hallmen2025-bah", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    table = document["tables"][0]
    assert (table["task"], table["harness_metric"], table["columns"]) == (
        "bah", "weighted_f1", [{"key": "val", "label": "F1_VAL"}])
    assert [row["figures"]["val"] for row in table["rows"]] == [.700, .674, .662, .718, .696, .725, .720, None]
    assert document["runs_dir"] is None and document["skipped"] == []


def test_markdown_output(capsys, runs_dir: Path) -> None:
    assert main(["leaderboard", "--table", "hallmen2024-emi", "--runs", str(runs_dir), "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### hallmen2024-emi — seed 000, Table 1\n")
    table_lines = [line for line in out.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in table_lines[0].strip("|").split("|")]
    assert header == ["row", "ρ_VAL", "ρ_TEST", "reproduced by", "run ρ_VAL", "data", "weights", "run dir"]
    assert re.fullmatch(r"\|[-:| ]+\|", table_lines[1])
    demo_line = next(line for line in table_lines if "demo-run" in line)
    assert [cell.strip() for cell in demo_line.strip("|").split("|")][3:7] == [
        "hallmen2024/audio-global-unfrozen", ".712", "DEMO", "RANDOM: vit-h14"]
    assert "> data DEMO:" in out


def test_json_and_markdown_are_exclusive(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["leaderboard", "--json", "--markdown"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_help_has_examples(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["leaderboard", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "abaw-bench leaderboard --table hallmen2024-emi --runs runs" in out
    assert "--runs DIR" in out and "--markdown" in out


def test_leaderboard_does_not_import_torch(runs_dir: Path) -> None:
    code = ("import sys\nfrom abaw_bench.harness.cli import main\n"
            f"assert main(['leaderboard', '--runs', {str(runs_dir)!r}, '--json']) == 0\n"
            "assert main(['leaderboard']) == 0\n"
            "sys.stderr.write('TORCH=' + str('torch' in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.endswith("TORCH=False")


def test_reader_follows_the_writer_schema(tmp_path: Path) -> None:
    """A document built by `harness.provenance.build_results` (what `abaw-bench run` writes) is read and placed."""
    from types import SimpleNamespace

    from abaw_bench.harness.provenance import build_results
    from abaw_bench.harness.systems import get_system
    from abaw_bench.harness.tasks import get_task
    from abaw_bench.harness.tasks.base import MetricResult
    from abaw_bench.leaderboard.runs import RunResult, read_results

    spec = get_system("hallmen2024")
    variant = spec.variant("emi", "audio-global")
    document = build_results(
        config=SimpleNamespace(preset="tiny", seed=0, to_json=lambda: {}), spec=spec, variant=variant,
        hyper=spec.hyper_for("emi", variant), task=get_task("emi"), metric=MetricResult("mean_pearson", 0.25),
        fit=SimpleNamespace(history=[{"epoch": 1}], best_epoch=1, stopped_early=False), epochs_source="test",
        data_root=tmp_path, demo=True, manifest_sha256="0" * 64,
        encoders={"wav2vec2-vad": {"encoder": "wav2vec2-vad", "random_weights": True}}, device="cpu",
        precision="fp32", world_size=1, started=0.0, submission=tmp_path / "submission.csv",
        report=SimpleNamespace(ok=True, data_rows=0, problems=[]))
    path = tmp_path / "results.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    run = read_results(path)
    assert isinstance(run, RunResult)
    assert (run.system, run.task, run.variant, run.metric, run.value, run.demo, run.random_encoders) == (
        "hallmen2024", "emi", "audio-global", "mean_pearson", 0.25, True, ("wav2vec2-vad",))
