"""`abaw-bench leaderboard`: every format, runs summarised per row (mean ± sd, n, interval, Δ), marks, bad input."""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from abaw_bench.harness.cli import main
from abaw_bench.harness.cli.leaderboard import FORMATS

FEW = ["--resamples", "100"]  # enough resamples to test the intervals' shape, few enough to stay fast


def _cells(output: str, label: str) -> list[list[str]]:
    """The tabulate line of a row and its continuation lines (blank label: further run groups), split into cells."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(label + "  "))
    block = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith(" ") or not line.strip():
            break
        block.append(line)
    return [re.split(r"\s{2,}", line.strip()) for line in block]


def _values(root: Path) -> list[float]:
    return [json.loads(path.read_text())["val"]["value"] for path in sorted(root.rglob("results.json"))]


def test_text_lists_every_table_in_paper_order_with_its_citation(capsys) -> None:
    assert main(["leaderboard"]) == 0
    out = capsys.readouterr().out
    headings = [line.split("  ·  ")[:2] for line in out.splitlines() if "  ·  task " in line]
    assert headings == [["hallmen2024-emi", "hallmen2024, Table 1"], ["hallmen2025-emi", "hallmen2025, Table 1"],
                        ["hallmen2025-bah", "hallmen2025, Table 2"], ["wen2024-va", "wen2024, Table 1"],
                        ["wen2024-expr", "wen2024, Table 2"]]
    assert ('Z. Wen, F. Zhang, S. Zhang, H. Sun, M. Xu, L. Sun, Z. Lian, B. Liu, J. Tao. "Multimodal Fusion with '
            'Pre-Trained Model Features in Affective Behaviour Analysis In-the-wild." CVPR Workshops (ABAW 6), '
            '2024.') in out
    assert "(↑ higher is better)" in out and "ρ_VAL ↑" in out
    assert _cells(out, "+ global + unfrozen + dropout") == [
        ["+ global + unfrozen + dropout", ".389", ".465", "hallmen2024/audio-global-unfrozen-dropout"]]
    assert _cells(out, "MCTN CLIP-large/WavLM")[0][:2] == ["MCTN CLIP-large/WavLM", ".6943"]
    assert "DEMO" not in out and "Δ" not in out  # no run columns without --runs
    assert "REFERENCE" not in out and "seed 00" not in out


def test_task_and_table_selection(capsys) -> None:
    assert main(["leaderboard", "--task", "emi"]) == 0
    out = capsys.readouterr().out
    assert "hallmen2024-emi  ·" in out and "hallmen2025-emi  ·" in out and "hallmen2025-bah" not in out
    assert main(["leaderboard", "--table", "wen2024-expr", "--task", "expr"]) == 0
    out = capsys.readouterr().out
    assert "wen2024-expr  ·" in out and "wen2024-va" not in out
    assert _cells(out, "Attention MobileNetV3 lr .0005")[0][:2] == ["Attention MobileNetV3 lr .0005", ".263"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--table", "hallmen2024-em"], "unknown table 'hallmen2024-em'. Did you mean 'hallmen2024-emi'"),
    (["--task", "exp"], "unknown task 'exp'. Did you mean 'expr'?"),
    (["--table", "wen2024-va", "--task", "emi"], "table 'wen2024-va' is a table of task 'va', not of task 'emi'"),
    (["--runs", "no/such/dir"], "--runs no/such/dir: not a directory"),
    (["--data-root", "emi"], "--data-root 'emi': expected TASK=DIR"),
    (["--data-root", "emo=/data"], "unknown task 'emo'"),
])
def test_bad_input_is_a_clean_error(capsys, argv: list[str], message: str) -> None:
    assert main(["leaderboard", *argv]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_runs_are_summarised_per_row_with_demo_apart(capsys, seeded_runs: Path) -> None:
    assert main(["leaderboard", "--table", "hallmen2024-emi", "--runs", str(seeded_runs), *FEW]) == 0
    captured = capsys.readouterr()
    real = _values(seeded_runs / "real")
    demo = _values(seeded_runs / "demo" / "hallmen2024")
    mean, sd = statistics.fmean(real), statistics.stdev(real)
    header = next(line for line in captured.out.splitlines() if line.startswith("row "))
    assert re.split(r"\s{2,}", header.strip()) == ["row", "ρ_VAL ↑", "ρ_TEST ↑", "reproduced by", "runs", "n", "seeds",
                                                   "mean ρ_VAL ± sd", "95 % CI", "Δ ρ_VAL"]
    (first, second) = _cells(captured.out, "+ global vector")
    assert first[:8] == ["+ global vector", ".280", "–", "hallmen2024/audio-global", "real", "3", "0, 1, 2",
                         f"{mean:.3f} ± {sd:.3f}".replace("0.", ".")]
    assert re.fullmatch(r"\[\.\d{3}, \.\d{3}\]", first[8])
    assert first[9] == f"{mean - 0.280:+.3f}".replace("0.", ".")
    assert second == ["DEMO, RANDOM: wav2vec2-vad", "2", "0, 1",
                      f"{statistics.fmean(demo):.3f} ± {statistics.stdev(demo):.3f}".replace("0.", "."),
                      second[4], "–"]  # a demo figure never gets a Δ
    assert "runs that reproduce no paper row:" in captured.out and "baseline/constant-mean" in captured.out
    assert "Δ: reproduced mean − the paper's validation figure, for reproductions only" in captured.out
    assert "bootstrap hallmen2024/emi/audio-global (3 run(s), 40 clips, 100 resamples)" in captured.err


def test_json_carries_aggregates_intervals_and_provenance(capsys, seeded_runs: Path) -> None:
    assert main(["leaderboard", "--task", "emi", "--runs", str(seeded_runs), "--format", "json", *FEW]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["bootstrap"] == {"resamples": 100, "seed": 0, "level": 0.95}
    table = document["tables"][0]
    assert (table["name"], table["paper"], table["reference"], table["higher_is_better"]) == (
        "hallmen2024-emi", "hallmen2024", "hallmen2024, Table 1", True)
    rows = {row["label"]: row for row in table["rows"]}
    real, demo = rows["+ global vector"]["aggregates"]
    values = _values(seeded_runs / "real")
    assert (real["reproduction"], real["n"], real["seeds"], real["marks"]) == (True, 3, [0, 1, 2], [])
    assert real["mean"] == pytest.approx(statistics.fmean(values), abs=1e-12)
    assert real["sd"] == pytest.approx(statistics.stdev(values), abs=1e-12)
    assert real["delta"] == pytest.approx(real["mean"] - 0.280, abs=1e-12)
    low, high = real["ci95"]
    assert -1 <= low < real["mean"] < high <= 1
    assert real["bootstrap"] == {"resamples": 100, "seed": 0, "units": "40 clips", "note": None}
    run = real["runs"][0]
    assert (run["seed"], run["git_commit"], run["device"], run["data_root"], run["encoder_fingerprints"]) == (
        0, "0123456789abcdef0123", "cpu", "/data/emi", {"wav2vec2-vad": "fp-real"})
    assert run["ci95"][0] < run["value"] < run["ci95"][1]
    assert (demo["reproduction"], demo["marks"], demo["delta"], demo["n"]) == (
        False, ["DEMO", "RANDOM: wav2vec2-vad"], None, 2)
    assert rows["Audio-only train"]["aggregates"] == []
    assert [run["variant"] for run in document["unplaced_runs"]] == ["constant-mean"]


def test_intervals_are_seeded(capsys, seeded_runs: Path) -> None:
    def interval(*extra: str) -> list[float]:
        assert main(["leaderboard", "--table", "hallmen2024-emi", "--runs", str(seeded_runs), "--format", "json",
                     "--resamples", "50", *extra]) == 0
        rows = json.loads(capsys.readouterr().out)["tables"][0]["rows"]
        return next(row for row in rows if row["label"] == "+ global vector")["aggregates"][0]["ci95"]

    assert interval() == interval()
    assert interval("--bootstrap-seed", "7") != interval()


def test_csv_is_one_long_table_with_machine_columns(capsys, seeded_runs: Path) -> None:
    assert main(["leaderboard", "--task", "emi", "--runs", str(seeded_runs), "--format", "csv", *FEW]) == 0
    records = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert list(records[0]) == ["table", "row", "paper_val", "paper_test", "reproduced_by", "runs", "config_hash",
                                "config_differs", "n", "seeds", "mean", "sd", "ci95_low", "ci95_high", "delta"]
    assert {record["table"] for record in records} == {"hallmen2024-emi", "hallmen2025-emi"}
    lines = [record for record in records
             if record["table"] == "hallmen2024-emi" and record["row"] == "+ global vector"]
    assert [(line["runs"], line["n"], line["paper_val"]) for line in lines] == [
        ("real", "3", "0.28"), ("DEMO, RANDOM: wav2vec2-vad", "2", "0.28")]
    assert float(lines[0]["mean"]) == pytest.approx(statistics.fmean(_values(seeded_runs / "real")), abs=1e-12)
    assert lines[1]["delta"] == ""
    baseline = next(record for record in records if record["row"] == "Baseline vision")
    assert (baseline["paper_val"], baseline["paper_test"], baseline["mean"]) == ("", "0.09", "")


def test_latex_one_booktabs_table_per_paper_table(capsys, seeded_runs: Path) -> None:
    assert main(["leaderboard", "--task", "emi", "--runs", str(seeded_runs), "--format", "latex", *FEW]) == 0
    out = capsys.readouterr().out
    assert out.count(r"\begin{table}") == 2 and out.count(r"\toprule") == 2
    assert r"\caption{hallmen2024, Table 1: mean over the 6 emotions of Pearson's r." in out
    assert r"95 \% CI low" in out and r"\label{tab:hallmen2024-emi}" in out
    line = next(line for line in out.splitlines() if line.startswith("+ global vector & .280 & -- & hallmen2024"))
    assert line.split(" & ")[4:6] == ["real", "3"]


def test_markdown_output(capsys, seeded_runs: Path) -> None:
    assert main(["leaderboard", "--table", "hallmen2024-emi", "--runs", str(seeded_runs), "--format", "markdown",
                 *FEW]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### hallmen2024-emi — hallmen2024, Table 1\n")
    table_lines = [line for line in out.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in table_lines[0].strip("|").split("|")]
    assert header == ["row", "ρ_VAL ↑", "ρ_TEST ↑", "reproduced by", "runs", "n", "seeds", "mean ρ_VAL ± sd",
                      "95 % CI", "Δ ρ_VAL"]
    demo_line = next(line for line in table_lines if "DEMO" in line)
    assert [cell.strip() for cell in demo_line.strip("|").split("|")][4:6] == ["DEMO, RANDOM: wav2vec2-vad", "2"]
    assert "> runs DEMO:" in out


def test_markdown_shows_a_hostile_variant_name_as_text(tmp_path: Path, capsys, kit) -> None:
    """A results file's variant (and so its run directory) holding HTML, a pipe, a link and a line break: one table
    row, each cell the text itself, no tag and no link in the page."""
    hostile = "<script>alert(1)</script>|x [a](javascript:b) `c` *d*\nnext"
    kit.write_run(tmp_path / "runs", "nosuchsystem", "v", 0, noise=0.1, demo=True)
    results_path = tmp_path / "runs" / "nosuchsystem" / "emi" / "v" / "seed0" / "results.json"
    results = json.loads(results_path.read_text())
    results["variant"] = hostile
    results_path.write_text(json.dumps(results))
    assert main(["leaderboard", "--runs", str(tmp_path / "runs"), "--format", "markdown", *FEW]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "nosuchsystem/" in line)
    cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", row.strip("|"))]
    assert cells[0] == ("nosuchsystem/&lt;script&gt;alert(1)&lt;/script&gt;\\|x \\[a\\](javascript:b) \\`c\\` "
                        "\\*d\\* next")
    assert len(cells) == 7 and "<script" not in out and "[a](" not in out


@pytest.mark.parametrize("fmt", FORMATS)
def test_out_writes_the_same_bytes_every_time(tmp_path: Path, capsys, seeded_runs: Path, fmt: str) -> None:
    first, second = tmp_path / f"first.{fmt}", tmp_path / f"second.{fmt}"
    for path in (first, second):
        assert main(["leaderboard", "--task", "emi", "--runs", str(seeded_runs), "--format", fmt, "--resamples",
                     "20", "--out", str(path)]) == 0
    assert f"wrote {second}" in capsys.readouterr().err
    assert first.read_bytes() == second.read_bytes() and len(first.read_bytes()) > 500
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []  # no temp file left


def test_malformed_and_misplaced_runs_are_reported_not_fatal(capsys, seeded_runs: Path) -> None:
    bad = seeded_runs / "bad-field" / "results.json"
    bad.parent.mkdir()
    document = json.loads(next((seeded_runs / "real").rglob("results.json")).read_text())
    bad.write_text(json.dumps(document | {"data": {"demo": "yes"}}), encoding="utf-8")
    truncated = seeded_runs / "truncated" / "results.json"
    truncated.parent.mkdir()
    truncated.write_text('{"system": "hallmen2024", "task"', encoding="utf-8")
    wrong_metric = seeded_runs / "wrong-metric" / "results.json"
    wrong_metric.parent.mkdir()
    wrong_metric.write_text(json.dumps(document | {"variant": "audio", "val": {"metric": "mean_ccc", "value": 0.5}}),
                            encoding="utf-8")
    (next((seeded_runs / "demo" / "hallmen2024").rglob("val_predictions.csv"))).unlink()

    assert main(["leaderboard", "--table", "hallmen2024-emi", "--runs", str(seeded_runs), *FEW]) == 0
    captured = capsys.readouterr()
    err = captured.err
    assert f"skipped {bad}: field 'data.demo': expected true or false" in err
    assert f"skipped {truncated}: line 1" in err
    assert "reports 'mean_ccc', but table hallmen2024-emi row 'Audio-only train' is 'mean_pearson'" in err
    assert "2 malformed results.json file(s) skipped" in err
    assert "'+ global vector' (DEMO, RANDOM: wav2vec2-vad): no interval: no val_predictions.csv in" in err
    assert _cells(captured.out, "+ global vector")[1][4] == "–"  # the demo group: no interval, still mean ± sd
    assert "Traceback" not in err


def test_help_has_examples(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["leaderboard", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "abaw-bench leaderboard --runs runs --format html --figures figures --out" in out
    assert "--runs DIR" in out and "--format" in out and "--resamples N" in out


def test_leaderboard_and_compare_do_not_import_torch(seeded_runs: Path) -> None:
    real = sorted((seeded_runs / "real").rglob("results.json"))
    code = ("import sys\nfrom abaw_bench.harness.cli import main\n"
            f"assert main(['leaderboard', '--runs', {str(seeded_runs)!r}, '--format', 'json', '--resamples', '20']) "
            "== 0\n"
            f"assert main(['compare', {str(real[0].parent)!r}, {str(real[1].parent)!r}, '--resamples', '20']) == 0\n"
            "assert main(['leaderboard']) == 0\n"
            "sys.stderr.write('TORCH=' + str('torch' in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.endswith("TORCH=False")


def test_reader_reads_what_the_writer_writes(tmp_path: Path) -> None:
    """`Results` as `abaw-bench run` writes it (atomic.write_json of `to_json`) reads back equal, with its views; a
    schema 5 document (before "task_facts") still reads, with no task facts, and a schema 6 one (before "model") with no
    model knobs and its Hyper as written."""
    from dataclasses import asdict, replace

    from abaw_bench.harness.atomic import write_json
    from abaw_bench.harness.metrics.result import MetricResult
    from abaw_bench.harness.results import SCHEMA_VERSION, Results, TaskFacts, read_results
    from abaw_bench.harness.systems import get_system
    from abaw_bench.harness.tasks import get_task

    spec = get_system("hallmen2024")
    variant = spec.variant("emi", "audio-global")
    written = Results(
        system=spec.name, task="emi", task_facts=TaskFacts.of(get_task("emi")), variant=variant.name,
        row=variant.row, preset="tiny", val=MetricResult("mean_pearson", 0.25, {"Joy": 0.5}).to_json(),
        best_epoch=1, epochs_run=1, epochs_source="test", stopped_early=False, paper=dict(variant.paper),
        notes=tuple(variant.notes), hyper=asdict(spec.hyper_for("emi", variant)),
        model=spec.knobs_for("emi", variant, "tiny").values(),
        batch_size={"global": 32, "per_rank": 32, "world_size": 1},
        data={"root": "demo", "demo": True, "manifest_sha256": "0" * 64, "manifest_version": "demo-v1",
              "manifest_source": "repository"},
        encoders={"audio": {"encoder": "wav2vec2-vad", "fingerprint": "random-1", "random_weights": True}},
        submission={"path": "submission.csv", "valid": True, "rows": 0, "problems": []}, config={"seed": 4},
        provenance={"seed": 4, "device": "cpu", "git_commit": "abc", "git_dirty": False},
        calibration={"threshold": 0.4, "val_value_at_threshold": 0.3, "sweep": [0.1, 0.9]})
    path = tmp_path / "results.json"
    write_json(path, written.to_json())
    run = read_results(path)
    assert run == written and run.path == path and run.schema_version == SCHEMA_VERSION == 7
    assert run.task_facts == TaskFacts("mean_pearson", True, "clip")
    assert (run.metric, run.value, run.breakdown, run.demo, run.random_encoders, run.threshold) == (
        "mean_pearson", 0.25, (("Joy", 0.5),), True, ("audio",), 0.4)
    assert (run.seed, run.device, run.data_root, run.manifest_sha256, run.fingerprints, run.commit) == (
        4, "cpu", "demo", "0" * 64, (("audio", "random-1"),), "abc")
    assert run.marks == ("DEMO", "RANDOM: audio") and not run.is_reproduction

    older = written.to_json() | {"schema_version": 5}
    del older["task_facts"]
    path.write_text(json.dumps(older), encoding="utf-8")
    assert read_results(path) == replace(written, task_facts=None, schema_version=5)

    before_model = written.to_json() | {"schema_version": 6, "hyper": written.hyper | {"dropout": 0.1}}
    del before_model["model"]  # before schema 7 the model's dropout was a Hyper field and there was no "model"
    path.write_text(json.dumps(before_model), encoding="utf-8")
    assert read_results(path) == replace(written, hyper=before_model["hyper"], model={}, schema_version=6)
