"""`leaderboard --runs` pools runs as seeds only when their configuration (everything but the seed) is the same."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from abaw_bench.harness.cli import main
from abaw_bench.leaderboard.configs import run_config_hash
from abaw_bench.leaderboard.runs import scan_runs

FEW = ["--table", "hallmen2024-emi", "--resamples", "0"]
ROW = "+ global vector"  # the row hallmen2024/audio-global reproduces


def _hash(run_dir: Path) -> str:
    runs, _ = scan_runs(run_dir)
    return run_config_hash(runs[0])


def test_the_hash_ignores_the_seed_paths_and_device_but_not_what_is_computed(tmp_path: Path, kit) -> None:
    base = _hash(kit.write_run(tmp_path / "a", "hallmen2024", "audio-global", 0, noise=0.3, demo=False))
    elsewhere = kit.write_run(tmp_path / "b", "hallmen2024", "audio-global", 1, noise=0.3, demo=False,
                              config={"device": "cuda", "num_workers": 4, "weights": {"wav2vec2-vad": "/w"}})
    assert _hash(elsewhere) == base  # another seed, --out, device, workers and weights path: the same configuration
    assert _hash(kit.write_run(tmp_path / "c", "hallmen2024", "audio-global", 0, noise=0.3, demo=False,
                               hyper={"lr": 3e-4})) != base
    assert _hash(kit.write_run(tmp_path / "d", "hallmen2024", "audio-global", 0, noise=0.3, demo=False,
                               config={"shuffle_labels": True})) != base
    demo = _hash(kit.write_run(tmp_path / "e", "hallmen2024", "audio-global", 0, noise=0.3, demo=True))
    assert demo != base


def test_skip_bad_and_overwrite_split_groups_only_by_what_was_skipped(tmp_path: Path, kit) -> None:
    """--overwrite and a --skip-bad that skipped nothing compute what a plain run does; skipped items do not."""
    base = _hash(kit.write_run(tmp_path / "a", "hallmen2024", "audio-global", 0, noise=0.3, demo=False))
    flags = kit.write_run(tmp_path / "b", "hallmen2024", "audio-global", 1, noise=0.3, demo=False,
                          config={"skip_bad": True, "overwrite": True})
    assert _hash(flags) == base
    document = json.loads((flags / "results.json").read_text())
    document["skipped"] = {"skip_bad": True, "reason": "no features", "splits": {
        "train": {"count": 1, "items": {"00012": "truncated mp3"}, "listed": 1, "left_out_of": "training"}}}
    (flags / "results.json").write_text(json.dumps(document), encoding="utf-8")
    assert _hash(flags) != base


def test_train_val_seeds_share_a_configuration_though_their_reused_epochs_differ(tmp_path: Path, kit) -> None:
    """A train+val row trains each seed for that seed's train-only best epoch: the rule is the configuration."""
    hashes = set()
    for seed, epochs in ((0, 7), (1, 12)):
        directory = kit.write_run(tmp_path, "hallmen2024", "trainval-audio-global-unfrozen", seed, noise=0.3,
                                  demo=False, epochs=epochs)
        document = json.loads((directory / "results.json").read_text())
        document["epochs_source"] = (f"best epoch of audio-global-unfrozen ({tmp_path}/hallmen2024/emi/"
                                     f"audio-global-unfrozen/seed{seed}/results.json)")
        (directory / "results.json").write_text(json.dumps(document), encoding="utf-8")
        hashes.add(_hash(directory))
    assert len(hashes) == 1


def test_a_duplicate_seed_counts_once_with_a_warning_naming_both(tmp_path: Path, kit, capsys) -> None:
    runs = tmp_path / "runs"
    first = kit.write_run(runs / "a", "hallmen2024", "audio-global", 0, noise=0.3, demo=False)
    copy = kit.write_run(runs / "b", "hallmen2024", "audio-global", 0, noise=0.4, demo=False)
    kit.write_run(runs / "b", "hallmen2024", "audio-global", 1, noise=0.3, demo=False)
    assert main(["leaderboard", *FEW, "--runs", str(runs), "--json"]) == 0
    captured = capsys.readouterr()
    assert f"{first} and {copy} are one configuration" in captured.err
    assert "same seed 0: counted once" in captured.err
    row = next(row for table in json.loads(captured.out)["tables"] for row in table["rows"] if row["label"] == ROW)
    [aggregate] = row["aggregates"]
    assert (aggregate["n"], aggregate["seeds"]) == (2, [0, 1])
    assert aggregate["config_hash"] == _hash(first) and aggregate["config_differs"] == {}


def test_runs_differing_beyond_the_seed_are_separate_lines_naming_the_field(tmp_path: Path, kit, capsys) -> None:
    runs = tmp_path / "runs"
    for seed in range(2):
        kit.write_run(runs / "full", "hallmen2024", "audio-global", seed, noise=0.3, demo=False, epochs=30)
    short = kit.write_run(runs / "short", "hallmen2024", "audio-global", 0, noise=0.5, demo=False, epochs=3)
    assert main(["leaderboard", *FEW, "--runs", str(runs), "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert "2 configurations summarised apart; they differ in hyper.epochs" in captured.err
    lines = [record for record in csv.DictReader(io.StringIO(captured.out)) if record["row"] == ROW]
    assert [(line["n"], line["config_differs"]) for line in lines] == [("2", "hyper.epochs=30"),
                                                                      ("1", "hyper.epochs=3")]
    assert lines[1]["config_hash"] == _hash(short) != lines[0]["config_hash"]
    assert all(line["delta"] for line in lines)  # both are reproductions, each compared with the paper

    assert main(["leaderboard", *FEW, "--runs", str(runs)]) == 0
    text = capsys.readouterr().out
    assert f"real [{_hash(short)[:8]}: hyper.epochs=3]" in text
