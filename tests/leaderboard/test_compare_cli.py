"""`abaw-bench compare RUN_A RUN_B`: the paired bootstrap difference of two runs, and the runs it refuses to pair."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from abaw_bench.harness.cli import main


def test_text_and_json_report_difference_interval_and_share(capsys, kit, tmp_path: Path) -> None:
    good = kit.write_run(tmp_path, "hallmen2024", "audio-global", 0, noise=0.1, demo=False)
    bad = kit.write_run(tmp_path, "hallmen2024", "audio", 0, noise=0.8, demo=True, random=("wav2vec2-vad",))
    assert main(["compare", str(good), str(bad / "results.json"), "--resamples", "200"]) == 0
    out = capsys.readouterr().out
    assert "A  hallmen2024/emi/audio-global seed 0: mean_pearson" in out
    assert "B  hallmen2024/emi/audio seed 0  [DEMO, RANDOM: wav2vec2-vad]" in out
    assert "paired bootstrap over 40 clips, 200 resamples, seed 0" in out
    assert "DEMO / RANDOM runs check the harness" in out

    assert main(["compare", str(good), str(bad), "--resamples", "200", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    recorded = [json.loads((run / "results.json").read_text())["val"]["value"] for run in (good, bad)]
    assert document["a"]["value_recomputed"] == pytest.approx(recorded[0], abs=1e-5)  # 6-decimal predictions
    assert document["difference"] == pytest.approx(document["a"]["value_recomputed"]
                                                   - document["b"]["value_recomputed"])
    assert document["ci95"][0] > 0 and document["a_better_share"] > 0.95
    assert (document["units"], document["unit_name"], document["higher_is_better"]) == (40, "clips", True)
    assert f"A − B  {document['difference']:+.4f}" in _text(capsys, good, bad)
    reversed_ = _json(capsys, bad, good)
    assert reversed_["a_better_share"] == pytest.approx(1 - document["a_better_share"])


def test_the_direction_comes_from_the_task_facts_results_json_records(capsys, kit, tmp_path: Path) -> None:
    """A schema-6 results.json carries its task's facts, and compare reads them rather than the registry (which the
    older files of the other tests fall back to: higher mean_pearson is better there)."""
    good = kit.write_run(tmp_path, "hallmen2024", "audio-global", 0, noise=0.1, demo=False)
    bad = kit.write_run(tmp_path, "hallmen2024", "audio", 0, noise=0.8, demo=False)
    for run in (good, bad):
        document = json.loads((run / "results.json").read_text())
        document |= {"schema_version": 6, "task_facts": {"headline_metric": "mean_pearson",
                                                         "higher_is_better": False, "unit": "clip"}}
        (run / "results.json").write_text(json.dumps(document), encoding="utf-8")
    document = _json(capsys, good, bad)
    assert document["higher_is_better"] is False and document["a_better_share"] < 0.05
    assert "(lower mean_pearson is better)" in _text(capsys, good, bad)


def _text(capsys, a: Path, b: Path) -> str:
    assert main(["compare", str(a), str(b), "--resamples", "200"]) == 0
    return capsys.readouterr().out


def _json(capsys, a: Path, b: Path) -> dict:
    assert main(["compare", str(a), str(b), "--resamples", "200", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _va_run(kit, root: Path, name: str, scale: float, videos: int = 3) -> Path:
    """A frame-level run: val_predictions.csv with a group column (the video of each frame)."""
    rng = np.random.default_rng(7)
    groups = [f"video{v}" for v in range(videos) for _ in range(20)]
    ids = [f"{group}/{i % 20 + 1:05d}.jpg" for i, group in enumerate(groups)]
    labels = rng.uniform(-1, 1, size=(len(ids), 2))
    directory = root / name
    directory.mkdir(parents=True)
    (directory / "val_predictions.csv").write_text(
        kit.predictions_csv(ids, labels * scale, labels, ("valence", "arousal"), groups=groups), encoding="utf-8")
    (directory / "results.json").write_text(json.dumps({
        "system": "wen2024", "task": "va", "variant": name, "val": {"metric": "mean_ccc", "value": 0.5},
        "data": {"root": "demo", "demo": True, "manifest_sha256": "cd" * 32}, "encoders": {},
        "provenance": {"seed": 0}}), encoding="utf-8")
    return directory


def test_frame_level_runs_are_resampled_by_video(capsys, kit, tmp_path: Path) -> None:
    a, b = _va_run(kit, tmp_path, "close", 0.9), _va_run(kit, tmp_path, "far", 0.3)
    document = _json(capsys, a, b)
    assert (document["units"], document["unit_name"], document["metric"]) == (3, "videos", "mean_ccc")
    assert document["difference"] > 0


def _rewrite(path: Path, change) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document), encoding="utf-8")


def _fifo(path: Path) -> None:
    """`path` becomes a named pipe with no writer: opening it for reading would block for ever."""
    path.unlink()
    os.mkfifo(path)


@pytest.mark.parametrize(("setup", "message"), [
    (lambda a, b: (b / "results.json").unlink(), "RUN_B: {b}/results.json: cannot read"),
    (lambda a, b: _fifo(b / "results.json"),
     "{b}/results.json: cannot read the results: expected a regular file, found a FIFO (named pipe)"),
    (lambda a, b: (b / "results.json").write_bytes(b"\xff\xfe{}"), "{b}/results.json: not UTF-8 text"),
    (lambda a, b: (a / "val_predictions.csv").unlink(), "RUN_A {a}: no val_predictions.csv"),
    (lambda a, b: _rewrite(b / "results.json", lambda d: d.update(val=None)),
     "RUN_B {b}: a train+val run has no held-out validation"),
    (lambda a, b: _rewrite(b / "results.json", lambda d: d.update(task="va")),
     "RUN_A is a run of task 'emi', RUN_B of task 'va'"),
    (lambda a, b: _rewrite(b / "results.json", lambda d: d["data"].update(manifest_sha256="ef" * 32)),
     "the runs used different split manifests"),
    (lambda a, b: (b / "val_predictions.csv").write_text(
        "\n".join((a / "val_predictions.csv").read_text().splitlines()[:-1]) + "\n"),
     "hold different validation items"),
])
def test_runs_that_cannot_be_paired_are_clean_errors(capsys, kit, tmp_path: Path, setup, message: str) -> None:
    a = kit.write_run(tmp_path, "hallmen2024", "audio-global", 0, noise=0.1, demo=False)
    b = kit.write_run(tmp_path, "hallmen2024", "audio-global", 1, noise=0.1, demo=False)
    setup(a, b)
    assert main(["compare", str(a), str(b), "--resamples", "10"]) == 2
    err = capsys.readouterr().err
    assert message.format(a=a, b=b) in err and "Traceback" not in err


def test_different_labels_and_missing_directories_are_refused(capsys, kit, tmp_path: Path) -> None:
    a = kit.write_run(tmp_path, "hallmen2024", "audio-global", 0, noise=0.1, demo=False)
    b = kit.write_run(tmp_path, "hallmen2024", "audio-global", 1, noise=0.1, demo=False)
    lines = (b / "val_predictions.csv").read_text().splitlines()
    cells = lines[1].split(",")
    cells[-1] = "0.123456"  # the last label column of the first item
    (b / "val_predictions.csv").write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    assert main(["compare", str(a), str(b)]) == 2
    assert "hold different labels for the same items" in capsys.readouterr().err
    assert main(["compare", str(a), str(tmp_path / "nowhere")]) == 2
    assert "RUN_B " in capsys.readouterr().err
    with pytest.raises(SystemExit, match="2"):
        main(["compare", str(a), str(a), "--resamples", "0"])
    assert "--resamples: expected a whole number in [1, 1000000], found '0'" in capsys.readouterr().err
